//! Batched data migrations: one set-based statement per key range, each range in its own short
//! transaction together with the progress it makes, so a killed run resumes where it stopped and
//! never does a row twice. Ranges are found by keyset on the key (never OFFSET), and sized so a
//! batch takes about the directive's `batch-time`: row locks are held that long at most.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::Client;

use crate::database::quote_identifier;
use crate::model::{Batched, Direction, Migration, Script};
use crate::replication::Watch;
use crate::runner::{describe_sql_error, millis, Event, Observer, RunError, Settings};

const SMALLEST_BATCH: i64 = 10;
const LARGEST_BATCH: i64 = 10_000_000;

/// Where a batched run stands, as the progress table and the events report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub rows: i64,
    pub batches: i32,
    /// Share of the key range done, 0.0 to 1.0.
    pub fraction: f64,
    pub rows_per_second: f64,
}

/// Runs a batched script to its end (from where an earlier run stopped), then lets the caller
/// record the migration. Errors leave the progress of every committed batch in place.
pub(crate) fn run(
    client: &mut Client,
    migration: &Migration,
    direction: Direction,
    batched: &Batched,
    settings: &Settings,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let script = migration.script(direction);
    let file = script.file_name();
    let failure = |message: String| RunError::Batched {
        file: file.clone(),
        message,
    };
    let table = quote_qualified(&batched.table);
    let key = quote_identifier(&batched.key);
    let key_type: Option<String> = client
        .query_opt(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute
             WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
            &[&batched.table, &batched.key],
        )
        .map_err(|error| failure(error.to_string()))?
        .map(|row| row.get(0));
    let key_type = key_type.ok_or_else(|| {
        failure(format!(
            "table {} has no column {}",
            batched.table, batched.key
        ))
    })?;
    if !["smallint", "integer", "bigint"].contains(&key_type.as_str()) {
        return Err(failure(format!(
            "key {}.{} is {key_type}; batches walk an integer key (the primary key, usually)",
            batched.table, batched.key
        )));
    }
    let row = client
        .query_one(
            &format!(
                "INSERT INTO bomizzel_backfill_progress AS p (version, direction, table_name, stop_key)
                 VALUES ($1, $2, $3, (SELECT max({key})::bigint FROM {table}))
                 ON CONFLICT (version, direction) DO UPDATE SET
                     -- An unfinished run resumes; a finished one (undone since) starts over.
                     last_key = CASE WHEN p.finished_at IS NULL THEN p.last_key END,
                     stop_key = CASE WHEN p.finished_at IS NULL THEN p.stop_key ELSE EXCLUDED.stop_key END,
                     rows_done = CASE WHEN p.finished_at IS NULL THEN p.rows_done ELSE 0 END,
                     batches = CASE WHEN p.finished_at IS NULL THEN p.batches ELSE 0 END,
                     started_at = CASE WHEN p.finished_at IS NULL THEN p.started_at ELSE now() END,
                     finished_at = NULL,
                     updated_at = now()
                 RETURNING last_key, stop_key, rows_done, batches,
                           (SELECT min({key})::bigint FROM {table})"
            ),
            &[&migration.version, &direction.as_str(), &batched.table],
        )
        .map_err(|error| failure(error.to_string()))?;
    let mut last: Option<i64> = row.get(0);
    let stop: Option<i64> = row.get(1);
    let mut rows: i64 = row.get(2);
    let mut batches: i32 = row.get(3);
    let first: Option<i64> = row.get(4);
    let (Some(stop), Some(first)) = (stop, first) else {
        return Ok(()); // an empty table: nothing to do
    };
    let next_bound = format!(
        "SELECT max({key})::bigint FROM (SELECT {key} FROM {table}
         WHERE ($1::bigint IS NULL OR {key} > $1) AND {key} <= $2 ORDER BY {key} LIMIT $3) batch"
    );
    let started = Instant::now();
    let mut size = batched.first_batch_size;
    let mut standbys = Watch::new(settings.replicas);
    let mut first_of_run = true;
    loop {
        let upper: Option<i64> = client
            .query_one(&next_bound, &[&last, &stop, &size])
            .map_err(|error| failure(error.to_string()))?
            .get(0);
        let Some(upper) = upper else {
            return Ok(());
        };
        // Between batches only: the committed ones stay done if the wait gives up.
        if !first_of_run {
            standbys
                .wait_for_standbys(client, batches, &mut |notice| {
                    observer.event(&Event::Replicas {
                        migration,
                        direction,
                        notice: &notice,
                    });
                })
                .map_err(|error| failure(error.to_string()))?;
        }
        first_of_run = false;
        let batch_started = Instant::now();
        let changed = run_batch(
            client, migration, direction, script, &key_type, last, upper, settings, observer,
        )?;
        let took = batch_started.elapsed();
        last = Some(upper);
        rows += changed;
        batches += 1;
        size = next_size(size, took, batched.batch_time);
        let span = (stop - first).max(1) as f64;
        observer.event(&Event::Batch {
            migration,
            direction,
            progress: Progress {
                rows,
                batches,
                fraction: ((upper - first) as f64 / span).clamp(0.0, 1.0),
                rows_per_second: rows as f64 / started.elapsed().as_secs_f64().max(1e-3),
            },
        });
        if !batched.pause.is_zero() {
            std::thread::sleep(batched.pause);
        }
    }
}

/// One range in one transaction with its progress row; retried on a lock timeout like any script.
#[allow(clippy::too_many_arguments)]
fn run_batch(
    client: &mut Client,
    migration: &Migration,
    direction: Direction,
    script: &Script,
    key_type: &str,
    last: Option<i64>,
    upper: i64,
    settings: &Settings,
    observer: &mut dyn Observer,
) -> Result<i64, RunError> {
    let mut attempt = 1;
    loop {
        let outcome =
            (|| {
                let mut transaction = client.transaction()?;
                transaction.batch_execute(&format!(
                    "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
                    millis(settings.lock_timeout),
                    settings.statement_timeout.map_or(0, millis)
                ))?;
                let low = key_parameter(key_type, last.unwrap_or(i64::MIN));
                let high = key_parameter(key_type, upper);
                let changed = transaction.execute(&script.sql, &[low.as_ref(), high.as_ref()])?;
                transaction.execute(
                "UPDATE bomizzel_backfill_progress SET last_key = $3, rows_done = rows_done + $4,
                     batches = batches + 1, updated_at = now()
                 WHERE version = $1 AND direction = $2",
                &[&migration.version, &direction.as_str(), &upper, &(changed as i64)],
            )?;
                transaction.commit()?;
                Ok::<_, postgres::Error>(changed as i64)
            })();
        match outcome {
            Ok(changed) => return Ok(changed),
            Err(error)
                if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    && attempt <= settings.lock_retries =>
            {
                let wait = settings.retry_backoff * 2u32.pow(attempt - 1);
                let failure = RunError::Batched {
                    file: script.file_name(),
                    message: describe_sql_error(script, &error),
                };
                observer.event(&Event::Retrying {
                    migration,
                    direction,
                    attempt,
                    wait,
                    error: &failure,
                });
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(error) => {
                return Err(RunError::Batched {
                    file: script.file_name(),
                    message: describe_sql_error(script, &error),
                })
            }
        }
    }
}

/// The range bounds in the key's own type, so `id > $1` binds whatever integer `id` is. The
/// lower bound of the first batch is below every key.
fn key_parameter(key_type: &str, value: i64) -> Box<dyn ToSql + Sync> {
    match key_type {
        "smallint" => {
            Box::new(i16::try_from(value).unwrap_or(if value < 0 { i16::MIN } else { i16::MAX }))
        }
        "integer" => {
            Box::new(i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX }))
        }
        _ => Box::new(value),
    }
}

/// The next batch size: scaled toward the target duration, never more than halved or doubled at
/// once, so one slow batch (a checkpoint, a lock) does not collapse the rate.
fn next_size(size: i64, took: Duration, target: Duration) -> i64 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-4);
    let scaled = (size as f64 * ratio.clamp(0.5, 2.0)) as i64;
    scaled.clamp(SMALLEST_BATCH, LARGEST_BATCH)
}

/// `tickets` or `audit.events`, each part quoted.
fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(quote_identifier)
        .collect::<Vec<_>>()
        .join(".")
}

/// Runs a batched script over its whole key range at once: the rollback round-trip checks what a
/// batched migration does to the schema, not how it paces itself.
pub fn run_whole(
    client: &mut impl postgres::GenericClient,
    script: &Script,
    batched: &Batched,
) -> Result<u64, postgres::Error> {
    let key_type: String = client
        .query_opt(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute
             WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
            &[&batched.table, &batched.key],
        )?
        .map_or_else(|| "bigint".to_owned(), |row| row.get(0));
    let low = key_parameter(&key_type, i64::MIN);
    let high = key_parameter(&key_type, i64::MAX);
    client.execute(&script.sql, &[low.as_ref(), high.as_ref()])
}

/// Marks a finished run (inside the transaction that records the migration) and forgets the
/// other direction's progress, so the next run that way starts from the beginning.
pub(crate) fn finish(
    client: &mut impl postgres::GenericClient,
    migration: &Migration,
    direction: Direction,
) -> Result<(), postgres::Error> {
    client.execute(
        "UPDATE bomizzel_backfill_progress SET finished_at = now(), updated_at = now()
         WHERE version = $1 AND direction = $2",
        &[&migration.version, &direction.as_str()],
    )?;
    client
        .execute(
            "DELETE FROM bomizzel_backfill_progress WHERE version = $1 AND direction <> $2",
            &[&migration.version, &direction.as_str()],
        )
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_follow_the_target_duration_within_bounds() {
        let target = Duration::from_millis(200);
        assert_eq!(next_size(1000, Duration::from_millis(100), target), 2000);
        assert_eq!(
            next_size(1000, Duration::from_millis(10), target),
            2000,
            "at most doubled"
        );
        assert_eq!(
            next_size(1000, Duration::from_millis(800), target),
            500,
            "at most halved"
        );
        assert_eq!(
            next_size(12, Duration::from_secs(5), target),
            SMALLEST_BATCH
        );
    }
}
