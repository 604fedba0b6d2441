//! Trying again after a lock conflict (`lock_timeout` ran out, or PostgreSQL broke a deadlock by
//! failing us), waiting twice as long each time: the one retry that whole scripts and each batch
//! of a batched data migration share.

use crate::model::{Direction, Migration};
use crate::runner::error::RunError;
use crate::runner::event::{Event, Observer};
use crate::runner::settings::Settings;

/// The error that ended the attempts, and how many were made.
pub(crate) struct GaveUp {
    pub error: Box<RunError>,
    pub attempts: u32,
}

impl GaveUp {
    /// The error to report for a whole script: a lock conflict that outlasted every retry says
    /// so (and what it left behind), anything else is itself.
    pub fn into_script_error(self, file: String, settings: &Settings) -> RunError {
        let lock_conflict = self.error.is_lock_conflict();
        match *self.error {
            RunError::Sql { leftovers, .. } if lock_conflict => RunError::LockTimeout {
                file,
                attempts: self.attempts,
                lock_timeout: settings.lock_timeout,
                leftovers,
            },
            other => other,
        }
    }
}

/// Runs `attempt` until it succeeds, fails other than by a lock conflict, or has been retried
/// `settings.lock_retries` times; each retry is told to `observer` before its wait.
pub(crate) fn with_retries<T>(
    settings: &Settings,
    migration: &Migration,
    direction: Direction,
    observer: &mut dyn Observer,
    mut attempt: impl FnMut(&mut dyn Observer) -> Result<T, RunError>,
) -> Result<T, GaveUp> {
    let mut number = 1;
    loop {
        match attempt(observer) {
            Ok(value) => return Ok(value),
            Err(error) if error.is_lock_conflict() && number <= settings.lock_retries => {
                let wait = settings.retry_backoff * 2u32.pow(number - 1);
                observer.event(&Event::Retrying {
                    migration,
                    direction,
                    attempt: number,
                    wait,
                    error: &error,
                });
                std::thread::sleep(wait);
                number += 1;
            }
            Err(error) => {
                return Err(GaveUp {
                    error: Box::new(error),
                    attempts: number,
                })
            }
        }
    }
}
