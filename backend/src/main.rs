//! `cargo run -p backend`: serves the API on `BIND_ADDR` (default 127.0.0.1:8080) over the
//! database at `DATABASE_URL`. It does not migrate on start-up: until the schema has the version
//! this build needs, `/health/ready` answers 503 and says why.

use std::net::SocketAddr;

use backend::{router, AppState};
use sqlx::postgres::PgPoolOptions;
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
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    // Parsed by the migrations crate too, only to log the URL without its password.
    let shown = url
        .parse::<migrations::DatabaseUrl>()
        .map(|parsed| parsed.redacted())
        .map_err(|error| format!("invalid DATABASE_URL: {error}"))?;
    let bind: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()
        .map_err(|error| format!("invalid BIND_ADDR: {error}"))?;
    // Lazy: the service starts (and reports not-ready) even while the database is down.
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_lazy(&url)
        .map_err(|error| format!("invalid DATABASE_URL: {error}"))?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|error| format!("cannot listen on {bind}: {error}"))?;
    tracing::info!(%bind, database = %shown, "serving");
    axum::serve(listener, router(AppState { pool }))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| format!("server failed: {error}"))?;
    tracing::info!("stopped");
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
