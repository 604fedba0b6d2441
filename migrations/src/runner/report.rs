//! What a run did, migration by migration, as refinery's `Report` tells what it applied: the
//! engine's own account, so callers never re-derive it from the events they printed.

use std::time::Duration;

use crate::model::{Direction, Migration, Version};
use crate::runner::error::RunError;

/// Each migration the runner started, in order; after a failure, the failed one is last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub runs: Vec<MigrationRun>,
}

/// One migration run in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRun {
    pub version: Version,
    pub name: String,
    pub direction: Direction,
    /// From its start to its end (retries included), as the `Finished`/`Failed` event said.
    pub duration: Duration,
    pub outcome: Outcome,
}

/// How one migration's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (up) or rolled back (down), with its history rows.
    Succeeded,
    /// It failed with this error; nothing after it ran.
    Failed(RunError),
}

impl MigrationRun {
    pub(crate) fn new(
        migration: &Migration,
        direction: Direction,
        duration: Duration,
        outcome: Outcome,
    ) -> MigrationRun {
        MigrationRun {
            version: migration.version,
            name: migration.name.clone(),
            direction,
            duration,
            outcome,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    pub fn error(&self) -> Option<&RunError> {
        match &self.outcome {
            Outcome::Succeeded => None,
            Outcome::Failed(error) => Some(error),
        }
    }
}

impl Report {
    /// The run of `version`, if it ran.
    pub fn run_of(&self, version: Version) -> Option<&MigrationRun> {
        self.runs.iter().find(|run| run.version == version)
    }

    /// How many migrations ran to the end.
    pub fn completed(&self) -> usize {
        self.runs.iter().filter(|run| run.succeeded()).count()
    }
}

/// A run that stopped at a failed migration: the error, and the report of everything it did
/// (what ran before the failure stays applied). Shown as the error alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct RunFailure {
    pub error: Box<RunError>,
    pub report: Report,
}
