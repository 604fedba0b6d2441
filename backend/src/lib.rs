//! The Bomizzel ticketing service: an HTTP JSON API over the schema that `migrations/` builds.
//! It never creates or alters tables; it reads the schema version it needs from the embedded
//! migrations and reports not-ready until the database has it.

mod auth;
mod error;
mod health;
pub mod limits;
mod server;
mod tickets;
mod users;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{get, post, put};
use axum::Router;
use sqlx::PgPool;

pub use auth::{issue_token, TokenIssue};
pub use error::ApiError;
pub use server::{serve, Timeouts};

/// A pool that connects on first use, so the service starts (and reports not-ready) while the
/// database is down. Built from the parsed URL, so libpq key/value strings work as URLs do.
pub fn lazy_pool(url: &migrations::DatabaseUrl, max_connections: u32) -> PgPool {
    // The password file was read for this URL's hosts already (`migrations::libpq`).
    let mut options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host(&url.host())
        .port(url.port())
        .username(url.user())
        .database(url.database())
        .application_name("bomizzel-backend");
    if let Some(password) = url.password() {
        options = options.password(&password);
    }
    options = with_tls(options, url.tls());
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_lazy_with(options)
}

/// The URL's TLS settings in sqlx's terms. sqlx takes the platform's roots when no CA file is
/// given, which is what `sslrootcert=system` asks for; it has no direct negotiation.
fn with_tls(
    options: sqlx::postgres::PgConnectOptions,
    tls: &migrations::tls::TlsSettings,
) -> sqlx::postgres::PgConnectOptions {
    use migrations::tls::{RootCert, SslMode};
    use sqlx::postgres::PgSslMode;
    let mut options = options.ssl_mode(match tls.mode() {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Allow => PgSslMode::Allow,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    });
    if let Some(RootCert::File(path)) = tls.root_cert() {
        options = options.ssl_root_cert(path);
    }
    if let Some(cert) = tls.cert() {
        options = options.ssl_client_cert(cert);
    }
    if let Some(key) = tls.key() {
        options = options.ssl_client_key(key);
    }
    options
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Set once the statements this service prepares are known to stay apart on the server
    /// connections behind the URL (see `health::prepared_statements_stay_apart`).
    statements_checked: Arc<tokio::sync::OnceCell<()>>,
}

impl AppState {
    pub fn new(pool: PgPool) -> AppState {
        AppState {
            pool,
            statements_checked: Arc::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::alive))
        .route("/health/ready", get(health::ready))
        .route("/users", post(users::create))
        .route("/users/me", get(users::me))
        .route("/queues", post(users::create_queue).get(users::list_queues))
        .route("/queues/{id}/agents", post(users::add_agent))
        .route("/tickets", post(tickets::create).get(tickets::list))
        .route("/tickets/{id}", get(tickets::get))
        .route("/tickets/{id}/status", put(tickets::update_status))
        .route("/tickets/{id}/assignee", put(tickets::assign))
        .route(
            "/tickets/{id}/comments",
            post(tickets::add_comment).get(tickets::list_comments),
        )
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|request: Request| async move {
            ApiError::MethodNotAllowed(format!(
                "{} is not allowed on {}",
                request.method(),
                request.uri().path()
            ))
        })
        .layer(DefaultBodyLimit::max(limits::BODY_BYTES))
        .with_state(state)
}
