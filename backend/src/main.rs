//! `cargo run -p backend`: serves the API on `BIND_ADDR` (default 127.0.0.1:8080) over the
//! database at `DATABASE_URL`. It does not migrate on start-up: until the schema has the version
//! this build needs, `/health/ready` answers 503 and says why.
//!
//! `cargo run -p backend -- create-admin EMAIL` creates the first admin and prints its API token
//! (the API itself needs an admin to create anyone).

use std::net::SocketAddr;

use backend::{issue_token, lazy_pool, router, AppState, Timeouts};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let text = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    let url: migrations::DatabaseUrl = text
        .parse()
        .map_err(|error| format!("invalid DATABASE_URL: {error}"))?;
    // As libpq would: PGPASSWORD, else the password file, when the URL has no password (sqlx's
    // own lookup would match the file against PGHOST rather than this URL's host).
    let (url, warning) = migrations::libpq::complete_password(&url);
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let pool = lazy_pool(&url, 16);
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let [command, email] = arguments.as_slice() {
        if command == "create-admin" {
            return create_admin(&pool, email).await;
        }
    }
    if !arguments.is_empty() {
        return Err("usage: backend [create-admin EMAIL]".to_owned());
    }
    let bind: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()
        .map_err(|error| format!("invalid BIND_ADDR: {error}"))?;
    let timeouts = Timeouts::from_env()?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|error| format!("cannot listen on {bind}: {error}"))?;
    tracing::info!(%bind, database = %url, ?timeouts, "serving");
    backend::serve(
        listener,
        router(AppState::new(pool)),
        timeouts,
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

async fn create_admin(pool: &sqlx::PgPool, email: &str) -> Result<(), String> {
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, display_name, role) VALUES ($1, $1, 'admin') RETURNING id",
        email
    )
    .fetch_one(pool)
    .await
    .map_err(|error| format!("cannot create admin {email}: {error}"))?;
    let issue = issue_token(pool, id, "create-admin")
        .await
        .map_err(|error| format!("cannot issue a token: {error}"))?;
    println!("{}", issue.token);
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
}
