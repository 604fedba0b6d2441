//! `/health`: the process is alive. `/health/ready`: the database answers, its schema is at the
//! version this build was compiled against, and no migration is failed or unfinished.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use migrations::history::READINESS;
use serde_json::{json, Value};

use crate::AppState;

pub async fn alive() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let needed = migrations::embedded_head().unwrap_or(0);
    match readiness(&state, needed).await {
        Ok(version) => (
            StatusCode::OK,
            Json(json!({"ready": true, "schema_version": version, "needed_version": needed})),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": reason, "needed_version": needed})),
        ),
    }
}

async fn readiness(state: &AppState, needed: i32) -> Result<i32, String> {
    state
        .statements_checked
        .get_or_try_init(|| prepared_statements_stay_apart(&state.pool))
        .await?;
    // The history tables may not exist yet, so these queries are built at run time.
    let (history, states): (bool, bool) = sqlx::query_as(READINESS.tables_exist)
        .fetch_one(&state.pool)
        .await
        .map_err(|error| hidden(error, "database unreachable"))?;
    if !history {
        return Err(format!(
            "schema not migrated: version 0, this build needs {needed}"
        ));
    }
    let (version,): (Option<i32>,) = sqlx::query_as(READINESS.newest_version)
        .fetch_one(&state.pool)
        .await
        .map_err(|error| hidden(error, "cannot read the schema version"))?;
    let version = version.unwrap_or(0);
    if states {
        let unfinished: Option<String> = sqlx::query_scalar(READINESS.first_unfinished)
            .fetch_optional(&state.pool)
            .await
            .map_err(|error| hidden(error, "cannot read the migration states"))?;
        if let Some(unfinished) = unfinished {
            return Err(format!("migration {unfinished}"));
        }
    }
    match version.cmp(&needed) {
        std::cmp::Ordering::Less => Err(format!(
            "schema at version {version}, this build needs {needed}: run the migrations"
        )),
        _ => Ok(version),
    }
}

/// Two fresh connections prepare the same statement, under the same name (sqlx numbers them per
/// connection), the second while the first is still open. Each has a server connection of its
/// own unless a pooler in transaction mode lends them one in turn; PgBouncer before 1.21 (or
/// without `max_prepared_statements`) then hands the second the first one's statements, and every
/// query this service makes would fail at random. Better not ready, saying why, than that.
async fn prepared_statements_stay_apart(pool: &sqlx::PgPool) -> Result<(), String> {
    use sqlx::Connection;
    let options = pool.connect_options();
    let mut first = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|error| hidden(error, "database unreachable"))?;
    let mut second = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|error| hidden(error, "database unreachable"))?;
    for connection in [&mut first, &mut second] {
        if let Err(error) = sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut *connection)
            .await
        {
            let code = error
                .as_database_error()
                .and_then(|database| database.code())
                .unwrap_or_default();
            // 42P05: the statement's name is taken; 26000: the statement is missing.
            return Err(if code == "42P05" || code == "26000" {
                hidden(
                    error,
                    "the database is reached through a pooler in transaction mode that mixes \
                     prepared statements up (PgBouncer before 1.21, or without \
                     max_prepared_statements): use session mode, or PgBouncer 1.21+ with \
                     max_prepared_statements",
                )
            } else {
                hidden(error, "database unreachable")
            });
        }
    }
    Ok(())
}

/// The reason anyone may read; the database's own words (hosts, users, SQL) go to the log only.
fn hidden(error: sqlx::Error, reason: &str) -> String {
    tracing::warn!(%error, "not ready: {reason}");
    reason.to_owned()
}
