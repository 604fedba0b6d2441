//! The deploy report: what one `deploy-db` did, written as JSON (the shape README documents) and
//! as text, and the files both go to.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, Version};
use serde::{Serialize, Serializer};

use crate::exit::Exit;
use crate::linter::Risk;
use crate::plumbing::check::{self, Check, Layout};
use crate::plumbing::journal;
use crate::plumbing::project;

/// The deploy report, written as JSON (this shape is documented in README) and as text.
#[derive(Debug, Serialize)]
pub struct Report {
    pub database: String,
    pub started_at: String,
    pub finished_at: String,
    pub outcome: Outcome,
    pub exit_code: Exit,
    pub starting_version: Version,
    pub final_version: Version,
    pub migrations: Vec<MigrationReport>,
    pub backup: Option<BackupReport>,
    pub checks: Vec<Check>,
    pub restore_command: Option<String>,
    pub error: Option<String>,
}

impl Report {
    /// A report begun now, refused until the deploy says otherwise.
    pub fn start(url: &DatabaseUrl) -> Report {
        Report {
            database: url.redacted(),
            started_at: now_rfc3339(),
            finished_at: String::new(),
            outcome: Outcome::Refused,
            exit_code: Exit::Failure,
            starting_version: 0,
            final_version: 0,
            migrations: Vec::new(),
            backup: None,
            checks: Vec::new(),
            restore_command: None,
            error: None,
        }
    }
}

/// How a deploy ended, serialised as the strings README documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Deployed,
    UpToDate,
    DryRun,
    Refused,
    RolledBack,
    NotRolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::UpToDate => "up_to_date",
            Outcome::DryRun => "dry_run",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled_back",
            Outcome::NotRolledBack => "not_rolled_back",
        }
    }
}

impl Outcome {
    /// The migration log's word for this outcome (the same as the report's).
    pub fn logged(self) -> journal::Outcome {
        match self {
            Outcome::Deployed => journal::Outcome::Deployed,
            Outcome::UpToDate => journal::Outcome::UpToDate,
            Outcome::DryRun => journal::Outcome::DryRun,
            Outcome::Refused => journal::Outcome::Refused,
            Outcome::RolledBack => journal::Outcome::RolledBack,
            Outcome::NotRolledBack => journal::Outcome::NotRolledBack,
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Serialize)]
pub struct MigrationReport {
    pub version: Version,
    pub name: String,
    /// The linter's class: `safe`, `risky` or `multi-step`; `unknown` when it could not be linted.
    #[serde(serialize_with = "serialize_class")]
    pub class: Option<Risk>,
    pub duration_ms: Option<u128>,
    pub outcome: MigrationOutcome,
    pub rollback_duration_ms: Option<u128>,
    pub error: Option<String>,
}

/// A class as printed and written: the risk's own name, `unknown` without a verdict.
pub fn class_text(class: Option<Risk>) -> &'static str {
    class.map_or("unknown", Risk::as_str)
}

fn serialize_class<S: Serializer>(class: &Option<Risk>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(class_text(*class))
}

/// What happened to one pending migration, serialised as README documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationOutcome {
    Applied,
    Failed,
    RolledBack,
    NotRun,
}

impl MigrationOutcome {
    fn as_str(self) -> &'static str {
        match self {
            MigrationOutcome::Applied => "applied",
            MigrationOutcome::Failed => "failed",
            MigrationOutcome::RolledBack => "rolled_back",
            MigrationOutcome::NotRun => "not_run",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub path: String,
    pub size_bytes: u64,
    pub duration_ms: u128,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Writes `<kind>-<time>.json` and `.txt` under the report folder (default
/// `target/xtask/deploys`): the deploy's own report, and a fleet's summary.
pub fn write_report_files(
    dir: Option<&Path>,
    kind: &str,
    started_at: &str,
    json: &impl Serialize,
    text: &str,
) -> Result<(PathBuf, PathBuf)> {
    let dir = dir.map_or_else(|| project::target_dir().join("deploys"), Path::to_path_buf);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let stamp: String = started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let json_path = dir.join(format!("{kind}-{stamp}.json"));
    let text_path = dir.join(format!("{kind}-{stamp}.txt"));
    std::fs::write(&json_path, serde_json::to_string_pretty(json)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&text_path, text)
        .with_context(|| format!("cannot write {}", text_path.display()))?;
    Ok((json_path, text_path))
}

/// The report as text: a header, one line per migration, then the checks.
pub fn text_report(report: &Report) -> String {
    let mut lines = vec![
        format!("deploy-db of {}", report.database),
        format!("started   {}", report.started_at),
        format!("finished  {}", report.finished_at),
        format!(
            "outcome   {} (exit {})",
            report.outcome.as_str(),
            report.exit_code.code()
        ),
        format!(
            "version   {} -> {}",
            report.starting_version, report.final_version
        ),
    ];
    if let Some(error) = &report.error {
        lines.push(format!("error     {error}"));
    }
    if let Some(backup) = &report.backup {
        lines.push(format!(
            "backup    {} ({} bytes, {} ms)",
            backup.path, backup.size_bytes, backup.duration_ms
        ));
    }
    if let Some(command) = &report.restore_command {
        lines.push(format!("restore   {command}"));
    }
    lines.push(String::new());
    lines.push("migrations".to_owned());
    lines.extend(report.migrations.iter().flat_map(migration_lines));
    lines.push(String::new());
    lines.push("checks".to_owned());
    lines.extend(check::render(&report.checks, Layout::Block { indent: 2 }));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn migration_lines(migration: &MigrationReport) -> Vec<String> {
    let duration = migration
        .duration_ms
        .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
    let mut line = format!(
        "  {:<40} {:<11} {:<12} {duration}",
        migrations::model::label(migration.version, &migration.name),
        class_text(migration.class),
        migration.outcome.as_str()
    );
    if let Some(ms) = migration.rollback_duration_ms {
        line.push_str(&format!(", rollback {ms} ms"));
    }
    let mut lines = vec![line];
    if let Some(error) = &migration.error {
        lines.push(format!("      {error}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::check::Verdict;

    /// A rolled-back deploy of two migrations, as README's example.
    fn rolled_back() -> Report {
        Report {
            database: "postgres://deploy:***@db:5432/bomizzel".to_owned(),
            started_at: "2026-11-24T09:10:56.2Z".to_owned(),
            finished_at: "2026-11-24T09:10:58.4Z".to_owned(),
            outcome: Outcome::RolledBack,
            exit_code: Exit::RolledBack,
            starting_version: 6,
            final_version: 6,
            migrations: vec![
                MigrationReport {
                    version: 7,
                    name: "add_due_date".to_owned(),
                    class: Some(Risk::Safe),
                    duration_ms: Some(12),
                    outcome: MigrationOutcome::RolledBack,
                    rollback_duration_ms: Some(3),
                    error: None,
                },
                MigrationReport {
                    version: 8,
                    name: "index_due_date".to_owned(),
                    class: None,
                    duration_ms: Some(40),
                    outcome: MigrationOutcome::Failed,
                    rollback_duration_ms: None,
                    error: Some("V0008__index_due_date.sql: boom".to_owned()),
                },
            ],
            backup: Some(BackupReport {
                path: "/srv/backups/bomizzel-20261124T091056.330Z-v6.dump".to_owned(),
                size_bytes: 52_428_800,
                duration_ms: 4100,
            }),
            checks: vec![
                Check::of(
                    "lint: pending migrations' class",
                    true,
                    vec!["V0007__add_due_date: safe".to_owned()],
                ),
                Check::new(
                    "health check",
                    Verdict::Skipped,
                    vec!["skipped: no --health-url".to_owned()],
                ),
                Check::of(
                    "data intact after the rollback",
                    false,
                    vec!["public.t: 3 rows instead of 2".to_owned()],
                ),
            ],
            restore_command: None,
            error: Some("V0008__index_due_date.sql: boom; rolled back".to_owned()),
        }
    }

    #[test]
    fn text_form() {
        insta::assert_snapshot!(text_report(&rolled_back()));
    }

    #[test]
    fn json_keeps_the_documented_strings() {
        let json = serde_json::to_value(rolled_back()).unwrap();
        assert_eq!(json["outcome"], "rolled_back");
        assert_eq!(json["exit_code"], 3);
        assert_eq!(json["migrations"][0]["class"], "safe");
        assert_eq!(json["migrations"][0]["outcome"], "rolled_back");
        assert_eq!(json["migrations"][1]["class"], "unknown");
        assert_eq!(json["migrations"][1]["outcome"], "failed");
        assert_eq!(json["checks"][1]["passed"], true);
        assert_eq!(json["checks"][2]["passed"], false);
        assert_eq!(
            MigrationOutcome::NotRun.as_str(),
            serde_json::to_value(MigrationOutcome::NotRun).unwrap()
        );
    }
}
