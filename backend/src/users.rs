//! Users, queues and who works which queue: administered by admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Role};
use crate::limits::{DISPLAY_NAME, EMAIL, QUEUE_DESCRIPTION, QUEUE_NAME};
use crate::{issue_token, ApiError, AppState};

#[derive(Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Debug, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: User,
    /// Shown once: only its hash is stored.
    pub token: String,
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    caller.require(&[Role::Admin], "create users")?;
    let Json(new) = body?;
    EMAIL.check(&new.email)?;
    DISPLAY_NAME.check(&new.display_name)?;
    if !["customer", "agent", "admin"].contains(&new.role.as_str()) {
        return Err(ApiError::Unprocessable(
            "role must be customer, agent or admin".into(),
        ));
    }
    let user = sqlx::query_as!(
        User,
        "INSERT INTO users (email, display_name, role) VALUES ($1, $2, $3)
         RETURNING id, email, display_name, role",
        new.email.trim(),
        new.display_name.trim(),
        new.role
    )
    .fetch_one(&state.pool)
    .await
    .map_err(email_taken_or)?;
    let issue = issue_token(&state.pool, user.id, "created with the user").await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            token: issue.token,
        }),
    ))
}

/// The unique index on `lower(email)` (V0010) compares emails ignoring case, race-free: of
/// concurrent registrations of case variants exactly one succeeds. It and the case-sensitive
/// `users_email_key` refuse the same thing as far as the client can tell. (A check in the insert
/// itself would read the whole table on a schema without the index: a second per registration.)
const EMAIL_UNIQUE: [&str; 2] = ["users_email_lower_key", "users_email_key"];

fn email_taken_or(error: sqlx::Error) -> ApiError {
    let taken = error
        .as_database_error()
        .and_then(|database| database.constraint())
        .is_some_and(|constraint| EMAIL_UNIQUE.contains(&constraint));
    if taken {
        ApiError::Conflict(
            "a user with this email already exists (emails are compared ignoring letter case)"
                .into(),
        )
    } else {
        error.into()
    }
}

pub async fn me(caller: Caller, State(state): State<AppState>) -> Result<Json<User>, ApiError> {
    let user = sqlx::query_as!(
        User,
        "SELECT id, email, display_name, role FROM users WHERE id = $1",
        caller.id
    )
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(user))
}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct NewQueue {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create_queue(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<NewQueue>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Queue>), ApiError> {
    caller.require(&[Role::Admin], "create queues")?;
    let Json(new) = body?;
    QUEUE_NAME.check(&new.name)?;
    QUEUE_DESCRIPTION.check(&new.description)?;
    let queue = sqlx::query_as!(
        Queue,
        "INSERT INTO queues (name, description) VALUES ($1, $2) RETURNING id, name, description",
        new.name.trim(),
        new.description
    )
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(queue)))
}

pub async fn list_queues(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Queue>>, ApiError> {
    let queues = sqlx::query_as!(
        Queue,
        "SELECT id, name, description FROM queues ORDER BY name"
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(queues))
}

#[derive(Debug, Deserialize)]
pub struct NewAgent {
    pub user_id: i64,
}

pub async fn add_agent(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<NewAgent>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin], "assign agents to queues")?;
    let Path(queue_id) = path?;
    let Json(agent) = body?;
    let role = sqlx::query_scalar!("SELECT role FROM users WHERE id = $1", agent.user_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::Unprocessable(format!("user {} does not exist", agent.user_id)))?;
    if role != "agent" {
        return Err(ApiError::Unprocessable(format!(
            "user {} is a {role}, not an agent",
            agent.user_id
        )));
    }
    sqlx::query!(
        "INSERT INTO queue_agents (queue_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        queue_id,
        agent.user_id
    )
    .execute(&state.pool)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
