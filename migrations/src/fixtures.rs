//! In-memory migrations and histories for the unit tests of planning and status: no folder, no
//! database, and checksums computed as the engine computes them, so "applied" really matches.

use std::path::Path;

use crate::history::{AppliedRow, History, RunState, StateRow};
use crate::model::{label, Direction, Directives, Documentation, Migration, Script, Version};
use crate::source::MigrationSet;

/// The folder every fixture claims to come from, as the refusals print it.
pub const DIR: &str = "migrations/sql";
pub const APPLIED_ON: &str = "2026-01-02T03:04:05Z";

pub fn name(version: Version) -> String {
    format!("step_{version}")
}

pub fn migration(version: Version) -> Migration {
    let script = |suffix: &str, sql: String| Script {
        path: Path::new(DIR).join(format!("{}{suffix}", label(version, &name(version)))),
        sql,
        directives: Directives::default(),
        documentation: Documentation::default(),
    };
    Migration::new(
        version,
        name(version),
        script(".sql", format!("SELECT {version};")),
        script(".down.sql", String::new()),
    )
}

/// A folder holding exactly these versions.
pub fn files(versions: &[Version]) -> MigrationSet {
    MigrationSet {
        dir: DIR.into(),
        migrations: versions.iter().copied().map(migration).collect(),
    }
}

/// The history of a database that applied exactly these versions, from unedited files.
pub fn applied(versions: &[Version]) -> History {
    let applied = versions
        .iter()
        .map(|&version| {
            let row = AppliedRow {
                version,
                name: name(version),
                applied_on: APPLIED_ON.into(),
                checksum: migration(version).checksum.to_string(),
            };
            (version, row)
        })
        .collect();
    History {
        applied,
        states: Default::default(),
    }
}

/// Records a run of `version` in the engine's state table.
pub fn record_run(
    history: &mut History,
    version: Version,
    direction: Direction,
    state: RunState,
    error: Option<&str>,
) {
    let row = StateRow {
        version,
        name: name(version),
        direction,
        state,
        started_at: "2026-01-02T03:04:00Z".into(),
        duration_ms: Some(42),
        error: error.map(Into::into),
        invalid_indexes_before: Vec::new(),
        applied_by: "alice".into(),
    };
    history.states.insert(version, row);
}

/// Makes the applied row of `version` disagree with its file's checksum, as an edit does.
pub fn edit_after_applying(history: &mut History, version: Version) {
    history
        .applied
        .get_mut(&version)
        .expect("the version is applied")
        .checksum = "1".into();
}
