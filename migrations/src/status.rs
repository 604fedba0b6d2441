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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{applied, edit_after_applying, files, record_run, APPLIED_ON};
    use State::{Applied, Failed, Missing, Modified, Pending};

    type Tweak = fn(&mut History);

    fn no_tweak(_: &mut History) {}

    /// What a row shows: version, name, state, applied time, duration, error.
    type Shown = (
        Version,
        &'static str,
        State,
        bool,
        Option<i64>,
        Option<&'static str>,
    );
    /// Name, versions on disk, versions applied, a change to the history, what `status` shows.
    type Case = (
        &'static str,
        &'static [Version],
        &'static [Version],
        Tweak,
        &'static [Shown],
    );

    /// One case per state and per way of reaching it, in the order `status` lists versions.
    #[rustfmt::skip]
    const STATES: &[Case] = &[
        ("nothing anywhere", &[], &[], no_tweak, &[]),
        ("file only: pending", &[1], &[], no_tweak, &[(1, "step_1", Pending, false, None, None)]),
        ("applied as written", &[1], &[1], no_tweak, &[(1, "step_1", Applied, true, None, None)]),
        (
            "duration of the run that applied it",
            &[1], &[1], |h| record_run(h, 1, Direction::Up, RunState::Applied, None),
            &[(1, "step_1", Applied, true, Some(42), None)],
        ),
        (
            "edited after applying: modified",
            &[1], &[1], |h| edit_after_applying(h, 1),
            &[(1, "step_1", Modified, true, None, None)],
        ),
        (
            "renamed after applying: modified, under the file's name",
            &[1], &[1], |h| h.applied.get_mut(&1).unwrap().name = "old_name".into(),
            &[(1, "step_1", Modified, true, None, None)],
        ),
        ("applied, file gone: missing", &[], &[1], no_tweak, &[(1, "step_1", Missing, true, None, None)]),
        (
            "failed no-transaction up",
            &[1], &[], |h| record_run(h, 1, Direction::Up, RunState::Failed, Some("boom")),
            &[(1, "step_1", Failed, false, None, Some("boom"))],
        ),
        (
            "failed without a message",
            &[1], &[], |h| record_run(h, 1, Direction::Up, RunState::Failed, None),
            &[(1, "step_1", Failed, false, None, Some("unknown error"))],
        ),
        (
            "failed rollback",
            &[1], &[1], |h| record_run(h, 1, Direction::Down, RunState::Failed, Some("boom")),
            &[(1, "step_1", Failed, true, None, Some("rollback failed: boom"))],
        ),
        (
            "failed rollback without a message",
            &[1], &[1], |h| record_run(h, 1, Direction::Down, RunState::Failed, None),
            &[(1, "step_1", Failed, true, None, Some("rollback failed: unknown error"))],
        ),
        (
            "never finished",
            &[1], &[], |h| record_run(h, 1, Direction::Up, RunState::Running, None),
            &[(1, "step_1", Failed, false, None, Some(
                "did not finish: up started 2026-01-02T03:04:00Z by alice (killed, or still running)",
            ))],
        ),
        (
            "failed and its file gone: failed, named by its run",
            &[], &[], |h| record_run(h, 1, Direction::Up, RunState::Failed, Some("boom")),
            &[(1, "step_1", Failed, false, None, Some("boom"))],
        ),
        (
            "failure wins over an edit",
            &[1], &[1], |h| {
                edit_after_applying(h, 1);
                record_run(h, 1, Direction::Down, RunState::Failed, Some("boom"));
            },
            &[(1, "step_1", Failed, true, None, Some("rollback failed: boom"))],
        ),
        (
            "every version once, in order",
            &[2, 4], &[1, 2], |h| record_run(h, 3, Direction::Up, RunState::Failed, Some("boom")),
            &[
                (1, "step_1", Missing, true, None, None),
                (2, "step_2", Applied, true, None, None),
                (3, "step_3", Failed, false, None, Some("boom")),
                (4, "step_4", Pending, false, None, None),
            ],
        ),
    ];

    #[test]
    fn states_of_files_and_history() {
        for (case, on_disk, done, tweak, expected) in STATES {
            let mut history = applied(done);
            tweak(&mut history);
            let actual: Vec<_> = statuses(&files(on_disk), &history)
                .into_iter()
                .map(|status| {
                    (
                        status.version,
                        status.name,
                        status.state,
                        status.applied_at,
                        status.duration_ms,
                        status.error,
                    )
                })
                .collect();
            let expected: Vec<_> = expected
                .iter()
                .map(|&(version, name, state, was_applied, duration_ms, error)| {
                    (
                        version,
                        name.to_owned(),
                        state,
                        was_applied.then(|| APPLIED_ON.to_owned()),
                        duration_ms,
                        error.map(str::to_owned),
                    )
                })
                .collect();
            assert_eq!(actual, expected, "{case}");
        }
    }

    #[test]
    fn only_applied_is_clean_and_the_words_are_the_documented_ones() {
        let states = [
            (Applied, "applied", true),
            (Pending, "pending", false),
            (Modified, "modified", false),
            (Missing, "missing", false),
            (Failed, "failed", false),
        ];
        for (state, word, clean) in states {
            assert_eq!(
                (state.to_string(), state.is_clean()),
                (word.to_owned(), clean),
                "{word}"
            );
        }
    }
}
