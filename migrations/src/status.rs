//! What state each migration is in: the files on one side, the database's history on the other.

use std::collections::BTreeSet;
use std::fmt;

use crate::history::{History, RunState};
use crate::model::{label, Direction, Version};
use crate::source::MigrationSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file changed since (refinery checksum differs).
    Modified,
    /// Applied, but its file is gone.
    Missing,
    /// A run outside a transaction failed or never finished; see `error`.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::Failed => "failed",
        }
    }

    /// Whether `status --check` and readiness probes accept this state.
    pub fn is_clean(self) -> bool {
        self == State::Applied
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: Version,
    pub name: String,
    pub state: State,
    pub applied_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

impl MigrationStatus {
    pub fn label(&self) -> String {
        label(self.version, &self.name)
    }
}

/// One status per version found on disk or in the history, in version order.
pub fn statuses(set: &MigrationSet, history: &History) -> Vec<MigrationStatus> {
    let versions: BTreeSet<Version> = set
        .migrations
        .iter()
        .map(|migration| migration.version)
        .chain(history.applied.keys().copied())
        .chain(history.states.keys().copied())
        .collect();
    versions
        .into_iter()
        .map(|version| status_of(version, set, history))
        .collect()
}

fn status_of(version: Version, set: &MigrationSet, history: &History) -> MigrationStatus {
    let file = set.get(version);
    let applied = history.applied.get(&version);
    let unfinished = history.unfinished(version);
    let name = file
        .map(|migration| migration.name.clone())
        .or_else(|| applied.map(|row| row.name.clone()))
        .or_else(|| unfinished.map(|row| row.name.clone()))
        .unwrap_or_default();
    let state = match (file, applied, unfinished) {
        (_, _, Some(_)) => State::Failed,
        (None, Some(_), None) => State::Missing,
        (Some(migration), Some(row), None)
            if row.checksum != migration.checksum.to_string() || row.name != migration.name =>
        {
            State::Modified
        }
        (Some(_), Some(_), None) => State::Applied,
        (_, None, None) => State::Pending,
    };
    let error = unfinished.map(|row| match (row.state, row.direction) {
        (RunState::Running, _) => format!(
            "did not finish: {} started {} by {} (killed, or still running)",
            row.direction, row.started_at, row.applied_by
        ),
        (_, Direction::Down) => format!(
            "rollback failed: {}",
            row.error.as_deref().unwrap_or("unknown error")
        ),
        _ => row.error.clone().unwrap_or_else(|| "unknown error".into()),
    });
    MigrationStatus {
        version,
        name,
        state,
        applied_at: applied.map(|row| row.applied_on.clone()),
        duration_ms: history
            .states
            .get(&version)
            .filter(|row| row.state == RunState::Applied)
            .and_then(|row| row.duration_ms),
        error,
    }
}
