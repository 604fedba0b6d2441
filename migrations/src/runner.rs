//! Running scripts: each in its own transaction together with its history rows, or, for
//! `-- xtask: no-transaction` scripts, alone with a state row that survives a failure.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, GenericClient};

use crate::history;
use crate::model::{Direction, Migration, Script};

/// How scripts are run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `lock_timeout` for every script: traffic must never queue behind a migration waiting for a lock.
    pub lock_timeout: Duration,
    /// `statement_timeout` for every script; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// How often a script that hit `lock_timeout` (or a deadlock) is tried again.
    pub lock_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Who runs this, recorded in the state table (`user@host`).
    pub applied_by: String,
    /// How far behind standbys may fall before batched data migrations pause between batches.
    pub replicas: crate::replication::Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_retries: 3,
            retry_backoff: Duration::from_secs(1),
            applied_by: "xtask".into(),
            replicas: crate::replication::Policy::default(),
        }
    }
}

/// What happens while running, for the caller to print and log. The runner itself never prints.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        migration: &'a Migration,
        direction: Direction,
    },
    /// Invalid indexes a failed run outside a transaction left behind, dropped before trying again.
    CleanedUp {
        migration: &'a Migration,
        dropped: &'a [String],
    },
    Retrying {
        migration: &'a Migration,
        direction: Direction,
        attempt: u32,
        wait: Duration,
        error: &'a RunError,
    },
    /// A batch of a batched data migration was committed.
    Batch {
        migration: &'a Migration,
        direction: Direction,
        progress: crate::batched::Progress,
    },
    /// A batched data migration paused for, or resumed after, lagging standbys.
    Replicas {
        migration: &'a Migration,
        direction: Direction,
        notice: &'a crate::replication::Notice,
    },
    Finished {
        migration: &'a Migration,
        direction: Direction,
        duration: Duration,
    },
    Failed {
        migration: &'a Migration,
        direction: Direction,
        duration: Duration,
        error: &'a RunError,
    },
}

pub trait Observer {
    fn event(&mut self, event: &Event<'_>);
}

impl<F: FnMut(&Event<'_>)> Observer for F {
    fn event(&mut self, event: &Event<'_>) {
        self(event)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("{file}{}: {message}{}", location_note(*.location), leftovers_note(.leftovers))]
    Sql {
        file: String,
        /// Line and column, when PostgreSQL says where in the file the error is.
        location: Option<(usize, usize)>,
        /// PostgreSQL's message with SQLSTATE, detail and hint.
        message: String,
        code: String,
        /// What a failed run outside a transaction left behind (e.g. an INVALID index).
        leftovers: Vec<String>,
    },
    #[error("{file}: gave up after {attempts} attempts: each waited {lock_timeout:?} (lock_timeout) for a lock another session holds; retry when the blocking transaction is gone{}", leftovers_note(.leftovers))]
    LockTimeout {
        file: String,
        attempts: u32,
        lock_timeout: Duration,
        leftovers: Vec<String>,
    },
    #[error("{file}: left the migration's transaction (a COMMIT, ROLLBACK or BEGIN in the file?); what ran after it was committed on its own, nothing was recorded; remove the transaction control and repair by hand")]
    EscapedTransaction { file: String },
    #[error("{file}: {message}")]
    Connection { file: String, message: String },
    #[error("{file}: batched data migration stopped: {message}; the batches done so far stay done, and the next migrate resumes after them")]
    Batched { file: String, message: String },
}

impl RunError {
    fn is_lock_conflict(&self) -> bool {
        matches!(self, RunError::Sql { code, .. }
            if code == SqlState::LOCK_NOT_AVAILABLE.code() || code == SqlState::T_R_DEADLOCK_DETECTED.code())
    }
}

fn location_note(location: Option<(usize, usize)>) -> String {
    location.map_or_else(String::new, |(line, column)| format!(":{line}:{column}"))
}

fn leftovers_note(leftovers: &[String]) -> String {
    if leftovers.is_empty() {
        String::new()
    } else {
        format!(
            "; left behind: INVALID index {} (the next migrate drops and rebuilds it)",
            leftovers.join(", ")
        )
    }
}

/// Runs scripts on one connection. Callers hold the migration lock (see [`crate::lock`]).
pub struct Runner<'c> {
    client: &'c mut Client,
    settings: Settings,
}

impl<'c> Runner<'c> {
    pub fn new(client: &'c mut Client, settings: Settings) -> Runner<'c> {
        Runner { client, settings }
    }

    /// Runs `migrations` in order in `direction`, stopping at the first failure. What ran before
    /// the failure stays applied (each migration is its own unit).
    pub fn run(
        &mut self,
        migrations: &[&Migration],
        direction: Direction,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        for migration in migrations {
            self.run_one(migration, direction, observer)?;
        }
        Ok(())
    }

    fn run_one(
        &mut self,
        migration: &Migration,
        direction: Direction,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let script = migration.script(direction);
        observer.event(&Event::Started {
            migration,
            direction,
        });
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let outcome = if script.directives.no_transaction {
                self.finish_previous_attempt(migration, observer)
                    .and_then(|()| self.run_outside_transaction(migration, direction, observer))
            } else if script.directives.batched.is_some() {
                self.run_outside_transaction(migration, direction, observer)
            } else {
                self.run_in_transaction(migration, direction)
            };
            match outcome {
                Ok(()) => {
                    observer.event(&Event::Finished {
                        migration,
                        direction,
                        duration: started.elapsed(),
                    });
                    return Ok(());
                }
                Err(error) if error.is_lock_conflict() && attempt <= self.settings.lock_retries => {
                    let wait = self.settings.retry_backoff * 2u32.pow(attempt - 1);
                    observer.event(&Event::Retrying {
                        migration,
                        direction,
                        attempt,
                        wait,
                        error: &error,
                    });
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(error) => {
                    let error = match error {
                        RunError::Sql { leftovers, .. } if error.is_lock_conflict() => {
                            RunError::LockTimeout {
                                file: script.file_name(),
                                attempts: attempt,
                                lock_timeout: self.settings.lock_timeout,
                                leftovers,
                            }
                        }
                        other => other,
                    };
                    observer.event(&Event::Failed {
                        migration,
                        direction,
                        duration: started.elapsed(),
                        error: &error,
                    });
                    return Err(error);
                }
            }
        }
    }

    fn run_in_transaction(
        &mut self,
        migration: &Migration,
        direction: Direction,
    ) -> Result<(), RunError> {
        let script = migration.script(direction);
        let file = script.file_name();
        let started = Instant::now();
        let mut transaction = self
            .client
            .transaction()
            .map_err(|error| connection_error(&file, &error))?;
        // A custom setting scoped to this transaction: if it is gone after the script, the script
        // ended our transaction and what followed was committed without us.
        transaction
            .batch_execute(&format!(
                "SET LOCAL bomizzel.migration = 'running'; {}",
                timeouts_sql(&self.settings, "SET LOCAL")
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
            &self.settings.applied_by,
        )
        .and_then(|()| transaction.commit())
        .map_err(|error| connection_error(&file, &error))
    }

    fn run_outside_transaction(
        &mut self,
        migration: &Migration,
        direction: Direction,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let script = migration.script(direction);
        let file = script.file_name();
        let client = &mut *self.client;
        let invalid_before =
            history::invalid_indexes(client).map_err(|error| connection_error(&file, &error))?;
        // Committed before the script starts, so a crash mid-script still shows up as unfinished,
        // with the backend that runs it: a dead runner's statement may go on in the server.
        client
            .execute(
                "INSERT INTO bomizzel_migration_state
                     (version, name, direction, state, started_at, invalid_indexes_before, applied_by,
                      backend_pid, backend_start)
                 VALUES ($1, $2, $3, 'running', now(), $4, $5, pg_backend_pid(),
                         (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()))
                 ON CONFLICT (version) DO UPDATE SET direction = $3, state = 'running',
                     started_at = now(), duration_ms = NULL, error = NULL,
                     invalid_indexes_before = $4, applied_by = $5,
                     backend_pid = excluded.backend_pid, backend_start = excluded.backend_start",
                &[
                    &migration.version,
                    &migration.name,
                    &direction.as_str(),
                    &invalid_before,
                    &self.settings.applied_by,
                ],
            )
            .map_err(|error| connection_error(&file, &error))?;
        let started = Instant::now();
        let outcome = match &script.directives.batched {
            Some(batched) => crate::batched::run(
                client,
                migration,
                direction,
                batched,
                &self.settings,
                observer,
            ),
            None => {
                let executed = client
                    .batch_execute(&timeouts_sql(&self.settings, "SET"))
                    .and_then(|()| client.batch_execute(&script.sql));
                // The session outlives the script: never let its timeouts leak into what runs next.
                let reset = client.batch_execute("RESET lock_timeout; RESET statement_timeout");
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
                    Ok(()) => reset.map_err(|error| connection_error(&file, &error)),
                }
            }
        };
        if let Err(failure) = outcome {
            // Best effort: if the connection is gone, the row stays `running`, which status shows too.
            let _ = client.execute(
                "UPDATE bomizzel_migration_state SET state = 'failed', error = $2,
                     duration_ms = $3 WHERE version = $1",
                &[
                    &migration.version,
                    &failure.to_string(),
                    &millis(started.elapsed()),
                ],
            );
            return Err(failure);
        }
        let duration = started.elapsed();
        let mut transaction = client
            .transaction()
            .map_err(|error| connection_error(&file, &error))?;
        record_finished(
            &mut transaction,
            migration,
            direction,
            Some(duration),
            &self.settings.applied_by,
        )
        .and_then(|()| match script.directives.batched {
            Some(_) => crate::batched::finish(&mut transaction, migration, direction),
            None => Ok(()),
        })
        .and_then(|()| transaction.commit())
        .map_err(|error| connection_error(&file, &error))
    }

    /// Before re-running a script outside a transaction whose last run failed or never finished,
    /// drops the INVALID indexes that run left, so `CREATE INDEX CONCURRENTLY` can start clean.
    fn finish_previous_attempt(
        &mut self,
        migration: &Migration,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let file = migration.up.file_name();
        let unfinished = self
            .client
            .query_opt(
                "SELECT invalid_indexes_before FROM bomizzel_migration_state
                 WHERE version = $1 AND state <> 'applied'",
                &[&migration.version],
            )
            .map_err(|error| connection_error(&file, &error))?;
        let Some(row) = unfinished else {
            return Ok(());
        };
        let invalid_before: Vec<String> = row.get(0);
        let leftovers: Vec<String> = history::invalid_indexes(self.client)
            .map_err(|error| connection_error(&file, &error))?
            .into_iter()
            .filter(|index| !invalid_before.contains(index))
            .collect();
        for index in &leftovers {
            history::drop_index_concurrently(self.client, index)
                .map_err(|error| connection_error(&file, &error))?;
        }
        if !leftovers.is_empty() {
            observer.event(&Event::CleanedUp {
                migration,
                dropped: &leftovers,
            });
        }
        Ok(())
    }
}

/// Writes the history rows of a finished script, inside the caller's transaction. `duration` is
/// `None` when the script's end was not seen (a run settled after its runner died).
pub(crate) fn record_finished(
    client: &mut impl GenericClient,
    migration: &Migration,
    direction: Direction,
    duration: Option<Duration>,
    applied_by: &str,
) -> Result<(), postgres::Error> {
    match direction {
        Direction::Up => {
            client.execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                 VALUES ($1, $2,
                         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                         $3)",
                &[
                    &migration.version,
                    &migration.name,
                    &migration.checksum.to_string(),
                ],
            )?;
            client.execute(
                "INSERT INTO bomizzel_migration_state
                     (version, name, direction, state, started_at, duration_ms, applied_by)
                 VALUES ($1, $2, 'up', 'applied', now(), $3, $4)
                 ON CONFLICT (version) DO UPDATE SET direction = 'up', state = 'applied',
                     duration_ms = $3, error = NULL, applied_by = $4",
                &[
                    &migration.version,
                    &migration.name,
                    &duration.map(millis),
                    &applied_by,
                ],
            )?;
        }
        Direction::Down => {
            client.execute(
                "DELETE FROM refinery_schema_history WHERE version = $1",
                &[&migration.version],
            )?;
            client.execute(
                "DELETE FROM bomizzel_migration_state WHERE version = $1",
                &[&migration.version],
            )?;
        }
    }
    Ok(())
}

fn timeouts_sql(settings: &Settings, set: &str) -> String {
    format!(
        "{set} lock_timeout = {}; {set} statement_timeout = {}",
        millis(settings.lock_timeout),
        settings.statement_timeout.map_or(0, millis)
    )
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn connection_error(file: &str, error: &postgres::Error) -> RunError {
    RunError::Connection {
        file: file.to_owned(),
        message: match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => format!("lost the connection to PostgreSQL: {error}"),
        },
    }
}

/// `file[:line:col]: message (SQLSTATE ...)` for an error a script raised.
pub fn describe_sql_error(script: &Script, error: &postgres::Error) -> String {
    sql_error(script, error, Vec::new()).to_string()
}

/// PostgreSQL's error, placed at the line and column of the script where it happened.
fn sql_error(script: &Script, error: &postgres::Error, leftovers: Vec<String>) -> RunError {
    let file = script.file_name();
    let Some(db) = error.as_db_error() else {
        return connection_error(&file, error);
    };
    // Without a position (many errors have none) no line is claimed rather than a wrong one.
    let location = match db.position() {
        Some(postgres::error::ErrorPosition::Original(position)) => {
            Some(line_and_column(&script.sql, *position as usize))
        }
        _ => None,
    };
    let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        message.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        message.push_str(&format!("; hint: {hint}"));
    }
    RunError::Sql {
        file,
        location,
        message,
        code: db.code().code().to_owned(),
        leftovers,
    }
}

/// PostgreSQL reports a 1-based character offset into the query string.
fn line_and_column(sql: &str, position: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for character in sql.chars().take(position.saturating_sub(1)) {
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_become_lines_and_columns() {
        let sql = "-- c\nSELECT\n  nope;";
        assert_eq!(line_and_column(sql, 1), (1, 1));
        assert_eq!(line_and_column(sql, 6), (2, 1));
        assert_eq!(line_and_column(sql, 15), (3, 3));
    }
}
