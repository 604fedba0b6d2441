//! Batched data migrations: one set-based statement per key range, each range in its own short
//! transaction together with the progress it makes, so a killed run resumes where it stopped and
//! never does a row twice. Ranges are found by keyset on the key (never OFFSET), and sized so a
//! batch takes about the directive's `batch-time`: row locks are held that long at most.

use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, GenericClient};

use crate::database::quote_identifier;
use crate::model::{Batched, Direction, Migration, Script};
use crate::replication::Watch;
use crate::runner::error::{sql_error, RunError};
use crate::runner::event::{Event, Observer, Progress};
use crate::runner::retry;
use crate::runner::settings::{Scope, Settings};

const SMALLEST_BATCH: i64 = 10;
const LARGEST_BATCH: i64 = 10_000_000;

/// Runs a batched script to its end (from where an earlier run stopped), then lets the caller
/// record the migration. Errors leave the progress of every committed batch in place.
pub(crate) fn run(
    client: &mut Client,
    settings: &Settings,
    migration: &Migration,
    direction: Direction,
    batched: &Batched,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let script = migration.script(direction);
    let key_type = integer_key_type(client, script, batched)?;
    let Some(range) =
        resume(client, migration, direction, batched).map_err(|error| stopped(script, error))?
    else {
        return Ok(()); // an empty table: nothing to do
    };
    let walk = Walk {
        settings,
        migration,
        direction,
        script,
        batched,
        key_type,
    };
    walk.run(client, range, observer)
}

/// The run stopped: what happened, with the promise that the committed batches stay done.
fn stopped(script: &Script, error: impl std::fmt::Display) -> RunError {
    RunError::Batched {
        file: script.file_name(),
        message: error.to_string(),
    }
}

/// The type of the batched table's key column, if the table has that column.
fn key_type_of(
    client: &mut impl GenericClient,
    batched: &Batched,
) -> Result<Option<String>, postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute
             WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
            &[&batched.table, &batched.key],
        )?
        .map(|row| row.get(0)))
}

/// The key's type, refusing a table without that column or a key that is not an integer.
fn integer_key_type(
    client: &mut Client,
    script: &Script,
    batched: &Batched,
) -> Result<String, RunError> {
    let key_type = key_type_of(client, batched)
        .map_err(|error| stopped(script, error))?
        .ok_or_else(|| {
            stopped(
                script,
                format!("table {} has no column {}", batched.table, batched.key),
            )
        })?;
    if !["smallint", "integer", "bigint"].contains(&key_type.as_str()) {
        return Err(stopped(
            script,
            format!(
                "key {}.{} is {key_type}; batches walk an integer key (the primary key, usually)",
                batched.table, batched.key
            ),
        ));
    }
    Ok(key_type)
}

/// The key range to walk and how far an unfinished earlier run got; `None` for an empty table.
struct Range {
    first: i64,
    stop: i64,
    last: Option<i64>,
    rows: i64,
    batches: i32,
}

impl Range {
    fn advance(&mut self, upper: i64, changed: i64) {
        self.last = Some(upper);
        self.rows += changed;
        self.batches += 1;
    }

    fn progress(&self, upper: i64, elapsed: Duration) -> Progress {
        let span = (self.stop - self.first).max(1) as f64;
        Progress {
            rows: self.rows,
            batches: self.batches,
            fraction: ((upper - self.first) as f64 / span).clamp(0.0, 1.0),
            rows_per_second: self.rows as f64 / elapsed.as_secs_f64().max(1e-3),
        }
    }
}

/// Opens (or resumes) the progress row of this run and reads the range it walks.
fn resume(
    client: &mut Client,
    migration: &Migration,
    direction: Direction,
    batched: &Batched,
) -> Result<Option<Range>, postgres::Error> {
    let table = quote_qualified(&batched.table);
    let key = quote_identifier(&batched.key);
    let row = client.query_one(
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
    )?;
    let (stop, first): (Option<i64>, Option<i64>) = (row.get(1), row.get(4));
    Ok(stop.zip(first).map(|(stop, first)| Range {
        first,
        stop,
        last: row.get(0),
        rows: row.get(2),
        batches: row.get(3),
    }))
}

/// One batched run over its key range.
struct Walk<'a> {
    settings: &'a Settings,
    migration: &'a Migration,
    direction: Direction,
    script: &'a Script,
    batched: &'a Batched,
    key_type: String,
}

impl Walk<'_> {
    fn run(
        &self,
        client: &mut Client,
        mut range: Range,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let started = Instant::now();
        let mut size = self.batched.first_batch_size;
        let mut standbys = Watch::new(self.settings.replicas);
        let mut first_of_run = true;
        while let Some(upper) = self.next_upper(client, &range, size)? {
            // Between batches only: the committed ones stay done if the wait gives up.
            if !first_of_run {
                self.wait_for_standbys(client, &mut standbys, range.batches, observer)?;
            }
            first_of_run = false;
            let batch_started = Instant::now();
            let changed = self.run_batch(client, range.last, upper, observer)?;
            size = next_size(size, batch_started.elapsed(), self.batched.batch_time);
            range.advance(upper, changed);
            observer.event(&Event::Batch {
                migration: self.migration,
                direction: self.direction,
                progress: range.progress(upper, started.elapsed()),
            });
            if !self.batched.pause.is_zero() {
                std::thread::sleep(self.batched.pause);
            }
        }
        Ok(())
    }

    /// The upper key of the next batch of about `size` rows; `None` when the range is done.
    fn next_upper(
        &self,
        client: &mut Client,
        range: &Range,
        size: i64,
    ) -> Result<Option<i64>, RunError> {
        let table = quote_qualified(&self.batched.table);
        let key = quote_identifier(&self.batched.key);
        let next_bound = format!(
            "SELECT max({key})::bigint FROM (SELECT {key} FROM {table}
             WHERE ($1::bigint IS NULL OR {key} > $1) AND {key} <= $2 ORDER BY {key} LIMIT $3) batch"
        );
        Ok(client
            .query_one(&next_bound, &[&range.last, &range.stop, &size])
            .map_err(|error| stopped(self.script, error))?
            .get(0))
    }

    fn wait_for_standbys(
        &self,
        client: &mut Client,
        standbys: &mut Watch,
        batches: i32,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        standbys
            .wait_for_standbys(client, batches, &mut |notice| {
                observer.event(&Event::Replicas {
                    migration: self.migration,
                    direction: self.direction,
                    notice: &notice,
                });
            })
            .map_err(|error| stopped(self.script, error))
    }

    /// One range in one transaction with its progress row; a lock conflict (timeout or deadlock)
    /// is retried as any script's is.
    fn run_batch(
        &self,
        client: &mut Client,
        last: Option<i64>,
        upper: i64,
        observer: &mut dyn Observer,
    ) -> Result<i64, RunError> {
        retry::with_retries(
            self.settings,
            self.migration,
            self.direction,
            observer,
            |_| {
                self.batch_once(client, last, upper)
                    .map_err(|error| sql_error(self.script, &error, Vec::new()))
            },
        )
        .map_err(|gave_up| stopped(self.script, gave_up.error))
    }

    fn batch_once(
        &self,
        client: &mut Client,
        last: Option<i64>,
        upper: i64,
    ) -> Result<i64, postgres::Error> {
        let mut transaction = client.transaction()?;
        transaction.batch_execute(&self.settings.timeouts_sql(Scope::Transaction))?;
        let low = key_parameter(&self.key_type, last.unwrap_or(i64::MIN));
        let high = key_parameter(&self.key_type, upper);
        let changed = transaction.execute(&self.script.sql, &[low.as_ref(), high.as_ref()])?;
        transaction.execute(
            "UPDATE bomizzel_backfill_progress SET last_key = $3, rows_done = rows_done + $4,
                 batches = batches + 1, updated_at = now()
             WHERE version = $1 AND direction = $2",
            &[
                &self.migration.version,
                &self.direction.as_str(),
                &upper,
                &(changed as i64),
            ],
        )?;
        transaction.commit()?;
        Ok(changed as i64)
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
    client: &mut impl GenericClient,
    script: &Script,
    batched: &Batched,
) -> Result<u64, postgres::Error> {
    let key_type = key_type_of(client, batched)?.unwrap_or_else(|| "bigint".to_owned());
    let low = key_parameter(&key_type, i64::MIN);
    let high = key_parameter(&key_type, i64::MAX);
    client.execute(&script.sql, &[low.as_ref(), high.as_ref()])
}

/// Marks a finished run (inside the transaction that records the migration) and forgets the
/// other direction's progress, so the next run that way starts from the beginning.
pub(crate) fn finish(
    client: &mut impl GenericClient,
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
