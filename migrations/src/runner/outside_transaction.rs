//! A script that cannot run in a transaction (`-- xtask: no-transaction`, and batched data
//! migrations, whose batches are transactions of their own): a committed `running` state row
//! first, the script alone, then the history rows in one transaction, or a `failed` row with
//! what the script left behind.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::history;
use crate::model::{Direction, Migration, Script};
use crate::runner::batched;
use crate::runner::error::{connection_error, sql_error, RunError};
use crate::runner::event::{Event, Observer};
use crate::runner::settings::{Scope, Settings, RESET_TIMEOUTS};

/// Runs the script between its `running` row and its history rows.
pub(crate) fn run(
    client: &mut Client,
    settings: &Settings,
    migration: &Migration,
    direction: Direction,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let script = migration.script(direction);
    let file = script.file_name();
    let invalid_before =
        history::invalid_indexes(client).map_err(|error| connection_error(&file, &error))?;
    history::record_running(
        client,
        migration,
        direction,
        &invalid_before,
        &settings.applied_by,
    )
    .map_err(|error| connection_error(&file, &error))?;
    let started = Instant::now();
    let outcome = match &script.directives.batched {
        Some(batched) => batched::run(client, settings, migration, direction, batched, observer),
        None => run_script(client, settings, script, &invalid_before),
    };
    if let Err(failure) = outcome {
        // Best effort: if the connection is gone, the row stays `running`, which status shows too.
        let _ = history::record_failed(
            client,
            migration.version,
            &failure.to_string(),
            started.elapsed(),
        );
        return Err(failure);
    }
    record_success(client, settings, migration, direction, started.elapsed())
}

/// The script itself under the session's timeouts, which are reset afterwards; a failure names
/// the INVALID indexes it left (those that were not there before).
fn run_script(
    client: &mut Client,
    settings: &Settings,
    script: &Script,
    invalid_before: &[String],
) -> Result<(), RunError> {
    let executed = client
        .batch_execute(&settings.timeouts_sql(Scope::Session))
        .and_then(|()| client.batch_execute(&script.sql));
    // The session outlives the script: never let its timeouts leak into what runs next.
    let reset = client.batch_execute(RESET_TIMEOUTS);
    match executed {
        Err(error) => {
            let leftovers = history::invalid_indexes(client)
                .map(|now| {
                    now.into_iter()
                        .filter(|index| !invalid_before.contains(index))
                        .collect()
                })
                .unwrap_or_default();
            Err(sql_error(script, &error, leftovers))
        }
        Ok(()) => reset.map_err(|error| connection_error(&script.file_name(), &error)),
    }
}

/// The history rows of the finished script (and a batched run's progress marked finished), in
/// one transaction.
fn record_success(
    client: &mut Client,
    settings: &Settings,
    migration: &Migration,
    direction: Direction,
    duration: Duration,
) -> Result<(), RunError> {
    let script = migration.script(direction);
    let file = script.file_name();
    let mut transaction = client
        .transaction()
        .map_err(|error| connection_error(&file, &error))?;
    history::record_finished(
        &mut transaction,
        migration,
        direction,
        Some(duration),
        &settings.applied_by,
    )
    .and_then(|()| match script.directives.batched {
        Some(_) => batched::finish(&mut transaction, migration, direction),
        None => Ok(()),
    })
    .and_then(|()| transaction.commit())
    .map_err(|error| connection_error(&file, &error))
}

/// Before re-running a script outside a transaction whose last run failed or never finished,
/// drops the INVALID indexes that run left, so `CREATE INDEX CONCURRENTLY` can start clean.
pub(crate) fn finish_previous_attempt(
    client: &mut Client,
    migration: &Migration,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let file = migration.up.file_name();
    let connection = |error: postgres::Error| connection_error(&file, &error);
    let Some(invalid_before) =
        history::unfinished_run_invalid_before(client, migration.version).map_err(connection)?
    else {
        return Ok(());
    };
    let leftovers: Vec<String> = history::invalid_indexes(client)
        .map_err(connection)?
        .into_iter()
        .filter(|index| !invalid_before.contains(index))
        .collect();
    for index in &leftovers {
        history::drop_index_concurrently(client, index).map_err(connection)?;
    }
    if !leftovers.is_empty() {
        observer.event(&Event::CleanedUp {
            migration,
            dropped: &leftovers,
        });
    }
    Ok(())
}
