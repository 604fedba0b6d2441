//! Bearer API tokens. A token is shown once when issued; the database keeps only its SHA-256.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::{ApiError, AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Role {
        match text {
            "admin" => Role::Admin,
            "agent" => Role::Agent,
            _ => Role::Customer,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

/// The caller, established from the `Authorization: Bearer` header.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub id: i64,
    pub role: Role,
}

impl Caller {
    pub fn require(&self, allowed: &[Role], what: &str) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} may not {what}",
                self.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The scheme is case-insensitive (RFC 9110, 11.1): `bearer` is `Bearer`.
        let token = parts
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(ApiError::Unauthorized)?;
        let hash = Sha256::digest(token.trim().as_bytes()).to_vec();
        let row = sqlx::query!(
            "SELECT u.id, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL",
            hash
        )
        .fetch_optional(&state.pool)
        .await?
        .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            id: row.id,
            role: Role::parse(&row.role),
        })
    }
}

/// A new token for a user: the plain text, to hand over once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenIssue {
    pub token: String,
}

pub async fn issue_token(pool: &PgPool, user_id: i64, label: &str) -> Result<TokenIssue, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|error| {
        tracing::error!(%error, "no randomness for a token");
        ApiError::Unavailable("cannot issue a token right now".into())
    })?;
    let token = format!("bmz_{}", hex::encode(bytes));
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    sqlx::query!(
        "INSERT INTO api_tokens (user_id, token_sha256, label) VALUES ($1, $2, $3)",
        user_id,
        hash,
        label
    )
    .execute(pool)
    .await?;
    Ok(TokenIssue { token })
}
