//! The migration log: one JSON line per step of every command that changes a database, and the
//! observer that prints the same steps for people.

pub mod reporter;

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use migrations::recovery::Settlement;
use migrations::{DatabaseUrl, Direction, Version};
use serde::Serialize;

use crate::plumbing::project;

/// An append-only JSON-lines file. Each line is written with one `write` on an `O_APPEND` file,
/// so concurrent runners never interleave within a line.
pub struct Journal {
    file: File,
    path: PathBuf,
    command: &'static str,
    database: String,
}

/// How a logged step ended: a log line's `outcome`, in the words README's migration-log section
/// and the deploy report use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    RolledBack,
    Failed,
    Retrying,
    /// An earlier failed run's INVALID index was dropped before the migration ran again.
    CleanedUp,
    PausedForStandbys,
    Resumed,
    StandbyNotWatched,
    /// An interrupted run settled by the runner itself, from what the schema showed.
    Recovered,
    Repaired,
    RepairedForced,
    /// The command stopped before any step (a refusal, a lock that could not be taken).
    Refused,
    BackedUp,
    Restored,
    /// A deploy-db check that passed (one that failed is `Failed`).
    Passed,
    Deployed,
    UpToDate,
    DryRun,
    NotRolledBack,
}

/// What a log line is about: it gives the line's `version`, `name` and `direction`.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The command as a whole.
    Command,
    /// One migration, run in one direction.
    Migration {
        version: Version,
        name: &'a str,
        direction: Direction,
    },
    /// A whole `deploy-db`, at the version it left the database.
    Deploy { version: Version },
    /// One of `deploy-db`'s checks, by its name.
    Check(&'a str),
    /// A backup: the archive written, or `None` when none was.
    Backup(Option<Archive<'a>>),
    /// A restore of the backup at this path.
    Restore(&'a Path),
}

/// A backup archive as the log names it.
#[derive(Debug, Clone, Copy)]
pub struct Archive<'a> {
    pub path: &'a Path,
    pub size_bytes: u64,
    /// The schema version of the database it holds.
    pub schema_version: Version,
}

/// How an interrupted run was settled, by whom, why, on what evidence.
#[derive(Debug, Clone, Copy)]
pub struct Settled<'a> {
    pub settlement: Settlement,
    /// Who settled it, as the state table records who ran a migration.
    pub applied_by: &'a str,
    /// The reason given to `repair` (the runner's own recovery gives none).
    pub reason: Option<&'a str>,
    /// What the live schema showed when it was settled.
    pub evidence: &'a str,
}

/// One step of a command, as a line of the log.
#[derive(Debug)]
pub struct Entry<'a> {
    pub subject: Subject<'a>,
    pub outcome: Outcome,
    pub duration: Option<Duration>,
    /// The error, or for standby notices the reason.
    pub error: Option<String>,
    /// Present only on the lines that settle an interrupted run.
    pub settled: Option<Settled<'a>>,
}

/// The fields of a line, in the order (and with the nulls) the log has always had.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    command: &'a str,
    database: &'a str,
    version: Option<Version>,
    name: Option<Cow<'a, str>>,
    direction: Option<&'a str>,
    duration_ms: Option<u128>,
    outcome: Outcome,
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settled_as: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry with no duration, error or settlement (set those with `..Entry::new(...)`).
    pub fn new(subject: Subject<'a>, outcome: Outcome) -> Entry<'a> {
        Entry {
            subject,
            outcome,
            duration: None,
            error: None,
            settled: None,
        }
    }
}

impl Subject<'_> {
    fn version(&self) -> Option<Version> {
        match *self {
            Subject::Migration { version, .. } | Subject::Deploy { version } => Some(version),
            Subject::Backup(archive) => archive.map(|archive| archive.schema_version),
            Subject::Command | Subject::Check(_) | Subject::Restore(_) => None,
        }
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        match *self {
            Subject::Command => None,
            Subject::Migration { name, .. } | Subject::Check(name) => Some(Cow::Borrowed(name)),
            Subject::Deploy { .. } => Some(Cow::Borrowed("deploy-db")),
            Subject::Backup(None) => Some(Cow::Borrowed("backup")),
            Subject::Backup(Some(archive)) => Some(Cow::Owned(format!(
                "backup {} ({} bytes)",
                archive.path.display(),
                archive.size_bytes
            ))),
            Subject::Restore(source) => Some(Cow::Owned(format!("restore {}", source.display()))),
        }
    }

    fn direction(&self) -> Option<&'static str> {
        match self {
            Subject::Migration { direction, .. } => Some(direction.as_str()),
            _ => None,
        }
    }
}

impl Journal {
    pub fn open(path: Option<&Path>, command: &'static str, url: &DatabaseUrl) -> Result<Journal> {
        let path = path.map_or_else(
            || project::target_dir().join("migrations.log"),
            Path::to_path_buf,
        );
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the log folder {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the migration log {}", path.display()))?;
        Ok(Journal {
            file,
            path,
            command,
            database: url.redacted(),
        })
    }

    pub fn record(&mut self, entry: &Entry<'_>) -> Result<()> {
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the current time")?;
        let settled = entry.settled.as_ref();
        let line = Line {
            time,
            command: self.command,
            database: &self.database,
            version: entry.subject.version(),
            name: entry.subject.name(),
            direction: entry.subject.direction(),
            duration_ms: entry.duration.map(|duration| duration.as_millis()),
            outcome: entry.outcome,
            error: entry.error.as_deref(),
            settled_as: settled.map(|settled| settled.settlement.as_str()),
            applied_by: settled.map(|settled| settled.applied_by),
            reason: settled.and_then(|settled| settled.reason),
            evidence: settled.map(|settled| settled.evidence),
        };
        let mut text = serde_json::to_string(&line).context("serializing a log line")?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write the migration log {}", self.path.display()))
    }

    /// Runs a command's body and logs how it ended when it ends before any step could say so
    /// (a refusal, a lock that could not be taken), so the log explains every run.
    pub fn guard<T>(&mut self, body: impl FnOnce(&mut Journal) -> Result<T>) -> Result<T> {
        let result = body(self);
        if let Err(error) = &result {
            let _ = self.record(&Entry {
                error: Some(format!("{error:#}")),
                ..Entry::new(Subject::Command, Outcome::Refused)
            });
        }
        result
    }
}

#[cfg(test)]
mod tests;
