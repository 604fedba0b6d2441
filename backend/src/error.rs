//! Every failure a client can cause maps to a status and a JSON body; nothing leaks as a 500
//! except a real server fault, which is logged and answered without details.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the request head is too large")]
    HeadTooLarge,
    #[error("the request target is too long")]
    UriTooLong,
    #[error("the request took longer than {0} ms")]
    Timeout(u128),
    #[error("internal error")]
    Internal(#[source] sqlx::Error),
}

impl ApiError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::HeadTooLarge => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large"),
            ApiError::UriTooLong => (StatusCode::URI_TOO_LONG, "too_large"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The documented error body, `{"error": {"code", "message"}}`.
    pub(crate) fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        json!({"error": {"code": code, "message": self.to_string()}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if let ApiError::Internal(error) = &self {
            tracing::error!(%error, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                "Bearer".parse().expect("a valid header value"),
            );
        }
        response
    }
}

/// Constraint violations are the client's fault (a duplicate, a reference to nothing, a value a
/// CHECK refuses); a database that cannot be reached or lacks the schema is a 503 (the service is
/// not ready, `/health/ready` says why); anything else is ours.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = |error: &sqlx::Error, message: &str| {
            tracing::warn!(%error, "{message}");
            ApiError::Unavailable(format!("{message}; see /health/ready"))
        };
        match &error {
            sqlx::Error::RowNotFound => return ApiError::NotFound("not found".into()),
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                return unavailable(&error, "the database is unreachable")
            }
            _ => {}
        }
        let Some(database) = error.as_database_error() else {
            return ApiError::Internal(error);
        };
        let constraint = database.constraint().unwrap_or("a constraint").to_owned();
        match database.code().as_deref() {
            Some("23505") => ApiError::Conflict(format!("already exists ({constraint})")),
            Some("23503") => ApiError::Unprocessable(format!(
                "refers to something that does not exist ({constraint})"
            )),
            Some("23514") | Some("23502") | Some("22001") => {
                ApiError::Unprocessable(format!("a value is not allowed ({constraint})"))
            }
            // Text PostgreSQL cannot store (NUL); the handlers refuse it first, this is the net.
            Some("22021") | Some("22P05") => {
                ApiError::Unprocessable("a text contains a character that cannot be stored".into())
            }
            // undefined table, column or function: the schema is not (yet) the one this build needs.
            Some("42P01") | Some("42703") | Some("42883") => {
                unavailable(&error, "the database schema is not ready")
            }
            _ => ApiError::Internal(error),
        }
    }
}

/// Not JSON at all is a bad request; JSON of the wrong shape (a missing field) is unprocessable;
/// a body over the limit is too large.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(_) => ApiError::Unprocessable(rejection.body_text()),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge(format!(
                    "the body is over the limit of {} bytes",
                    crate::limits::BODY_BYTES
                ))
            }
            _ => ApiError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
