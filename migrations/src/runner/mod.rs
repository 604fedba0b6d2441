//! Running migrations: each script in its own transaction together with its history rows
//! (`transaction`), or, for `-- xtask: no-transaction` scripts and batched data migrations, alone
//! with a state row that survives a failure (`outside_transaction`, `batched`). Lock conflicts are
//! retried (`retry`); what happens is told to an [`Observer`] as it happens, and what ran is
//! returned as a [`Report`].

mod batched;
mod error;
mod event;
mod outside_transaction;
mod report;
mod retry;
mod settings;
mod transaction;

use std::time::Instant;

use postgres::Client;

use crate::model::{Direction, Migration};

pub use batched::run_whole;
pub use error::{describe_sql_error, RunError};
pub use event::{Event, Observer, Progress};
pub use report::{MigrationRun, Outcome, Report, RunFailure};
pub use settings::Settings;

/// Runs scripts on one connection. Callers hold the migration lock (see [`crate::lock`]).
pub struct Runner<'c> {
    client: &'c mut Client,
    settings: Settings,
}

impl<'c> Runner<'c> {
    pub fn new(client: &'c mut Client, settings: Settings) -> Runner<'c> {
        Runner { client, settings }
    }

    /// Runs `migrations` in order in `direction`, stopping at the first failure, and reports
    /// each one it started. What ran before a failure stays applied (each migration is its own
    /// unit); the failure carries the report of it.
    pub fn run(
        &mut self,
        migrations: &[&Migration],
        direction: Direction,
        observer: &mut dyn Observer,
    ) -> Result<Report, RunFailure> {
        let mut report = Report::default();
        for migration in migrations {
            observer.event(&Event::Started {
                migration,
                direction,
            });
            let started = Instant::now();
            let outcome = self.run_one(migration, direction, observer);
            let duration = started.elapsed();
            match outcome {
                Ok(()) => {
                    observer.event(&Event::Finished {
                        migration,
                        direction,
                        duration,
                    });
                    report.runs.push(MigrationRun::new(
                        migration,
                        direction,
                        duration,
                        Outcome::Succeeded,
                    ));
                }
                Err(error) => {
                    observer.event(&Event::Failed {
                        migration,
                        direction,
                        duration,
                        error: &error,
                    });
                    report.runs.push(MigrationRun::new(
                        migration,
                        direction,
                        duration,
                        Outcome::Failed(error.clone()),
                    ));
                    return Err(RunFailure {
                        error: Box::new(error),
                        report,
                    });
                }
            }
        }
        Ok(report)
    }

    /// One migration, tried again after lock conflicts.
    fn run_one(
        &mut self,
        migration: &Migration,
        direction: Direction,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let script = migration.script(direction);
        let Runner { client, settings } = self;
        retry::with_retries(settings, migration, direction, observer, |observer| {
            if script.directives.no_transaction {
                outside_transaction::finish_previous_attempt(client, migration, observer)?;
                outside_transaction::run(client, settings, migration, direction, observer)
            } else if script.directives.batched.is_some() {
                outside_transaction::run(client, settings, migration, direction, observer)
            } else {
                transaction::run(client, settings, migration, direction)
            }
        })
        .map_err(|gave_up| gave_up.into_script_error(script.file_name(), settings))
    }
}
