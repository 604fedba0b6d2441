//! A script in its own transaction, together with its history rows: it is applied whole or not
//! at all.

use std::time::Instant;

use postgres::Client;

use crate::history::record_finished;
use crate::model::{Direction, Migration};
use crate::runner::error::{connection_error, sql_error, RunError};
use crate::runner::settings::{Scope, Settings};

/// `BEGIN; SET LOCAL timeouts; <script>; history rows; COMMIT`, refusing a script that ended
/// the transaction itself.
pub(crate) fn run(
    client: &mut Client,
    settings: &Settings,
    migration: &Migration,
    direction: Direction,
) -> Result<(), RunError> {
    let script = migration.script(direction);
    let file = script.file_name();
    let started = Instant::now();
    let mut transaction = client
        .transaction()
        .map_err(|error| connection_error(&file, &error))?;
    // A custom setting scoped to this transaction: if it is gone after the script, the script
    // ended our transaction and what followed was committed without us.
    transaction
        .batch_execute(&format!(
            "SET LOCAL bomizzel.migration = 'running'; {}",
            settings.timeouts_sql(Scope::Transaction)
        ))
        .map_err(|error| connection_error(&file, &error))?;
    transaction
        .batch_execute(&script.sql)
        .map_err(|error| sql_error(script, &error, Vec::new()))?;
    let marker: String = transaction
        .query_one("SELECT current_setting('bomizzel.migration', true)", &[])
        .map_err(|error| connection_error(&file, &error))?
        .get(0);
    if marker != "running" {
        return Err(RunError::EscapedTransaction { file });
    }
    let duration = started.elapsed();
    record_finished(
        &mut transaction,
        migration,
        direction,
        Some(duration),
        &settings.applied_by,
    )
    .and_then(|()| transaction.commit())
    .map_err(|error| connection_error(&file, &error))
}
