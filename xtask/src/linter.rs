//! The lint engine: classifies every migration as the strategy does (safe, risky, multi-step),
//! catches unsafe operations and the engine's own rules, and says the safe way. Rules live one per
//! file in `linter/rules/`, registered in `linter/rule.rs`; `linter/folder.rs` collects a folder's
//! files and `linter/runner.rs` runs the rules over each. This file holds the entry points the
//! commands call (`lint`, `check-migrations`, `deploy-db`); it takes values, never flags.

pub(crate) mod application;
mod catalog;
mod context;
mod file_report;
mod finding;
mod folder;
mod forms;
mod plpgsql;
pub(crate) mod report;
mod rule;
mod runner;
pub(crate) mod sql;
pub(crate) mod trace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use migrations::model::parse_file_name;
use migrations::source::Problem;
use migrations::trace::Settings as TraceSettings;
use migrations::{DatabaseUrl, Version};

use context::SourceFile;
pub use file_report::FileReport;
pub use folder::{lint_folder, lint_folder_traced};
pub use rule::Risk;
use rule::{Class, Rule};

/// What to lint: a migrations folder, or one file (linted with its folder when it is named as a
/// migration, so pairing, version and earlier-migration facts apply to it too).
pub enum Target {
    Folder(PathBuf),
    File(PathBuf),
}

/// Lints the targets, each folder through `lint_folder` (static, or static and traced).
pub fn lint_targets(
    targets: &[Target],
    lint_folder: &dyn Fn(&Path) -> Vec<FileReport>,
) -> Vec<FileReport> {
    let mut reports = Vec::new();
    // Each folder is linted once, however many of its files were named.
    let mut folders: BTreeMap<PathBuf, Vec<FileReport>> = BTreeMap::new();
    for target in targets {
        match target {
            Target::Folder(dir) => reports.extend(lint_folder(dir)),
            Target::File(path) if is_migration_name(path) => {
                let dir = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let folder = folders
                    .entry(dir.clone())
                    .or_insert_with(|| lint_folder(&dir));
                // A file the engine does not see in its folder (a hidden one) is linted alone.
                let report = match folder
                    .iter()
                    .position(|report| same_file(&report.path, path))
                {
                    Some(index) => folder.swap_remove(index),
                    None => lint_single_file(path),
                };
                reports.push(report);
            }
            Target::File(path) => reports.push(lint_single_file(path)),
        }
    }
    reports
}

/// Lints and traces a migrations folder for `check-migrations`: the plain-text report and how
/// many of its findings block.
pub fn check_folder(dir: &Path, server: &DatabaseUrl) -> (String, usize) {
    let (reports, unavailable) =
        lint_folder_traced(dir, server, &TraceSettings::default(), |_| true);
    let mut text = anstream::adapter::strip_str(&report::text(&reports)).to_string();
    if let Some(trace::Unavailable(reason)) = unavailable {
        text.push_str(&format!(
            "trace unavailable, static verdict only: {reason}\n"
        ));
    }
    (text, count_blocking(&reports))
}

/// `deploy-db`'s view of one pending migration: its class, its findings as
/// `rule[ (acknowledged)] at line N`, and what the trace saw it do.
pub struct PendingVerdict {
    pub risk: Risk,
    pub findings: Vec<String>,
    pub trace: Option<trace::FileTrace>,
}

/// Lints the folder and traces the `pending` migrations on a scratch database of `server`,
/// after applying the ones before them, with enough generated rows per table for the trace's
/// time per row to mean something. The reason comes back when no trace could be made.
pub fn judge_pending(
    dir: &Path,
    pending: &[Version],
    server: &DatabaseUrl,
) -> (BTreeMap<Version, PendingVerdict>, Option<String>) {
    let settings = TraceSettings {
        rows_per_table: ESTIMATE_ROWS_PER_TABLE,
        freeze: true,
    };
    let (reports, unavailable) =
        lint_folder_traced(dir, server, &settings, |version| pending.contains(&version));
    let verdicts = reports
        .into_iter()
        .filter(|report| !report.path.to_string_lossy().ends_with(".down.sql"))
        .filter_map(|report| {
            let version = report.version.filter(|version| pending.contains(version))?;
            Some((version, pending_verdict(report)))
        })
        .collect();
    (
        verdicts,
        unavailable.map(|trace::Unavailable(reason)| reason),
    )
}

fn pending_verdict(report: FileReport) -> PendingVerdict {
    let findings = report
        .findings
        .iter()
        .filter(|finding| finding.counts())
        .map(|finding| {
            let acknowledged = if finding.acknowledged.is_some() {
                " (acknowledged)"
            } else {
                ""
            };
            format!(
                "{}{acknowledged} at line {}",
                finding.rule.name(),
                finding.line
            )
        })
        .collect();
    PendingVerdict {
        risk: report.risk,
        findings,
        trace: report.trace,
    }
}

/// Rows per table for a deploy's trace: enough that a rewrite's time is mostly per-row work, few
/// enough that generating them takes a second or two.
const ESTIMATE_ROWS_PER_TABLE: usize = 500;

/// How many findings fail the lint: errors nobody acknowledged.
pub fn count_blocking(reports: &[FileReport]) -> usize {
    reports
        .iter()
        .flat_map(|report| &report.findings)
        .filter(|finding| finding.is_blocking())
        .count()
}

/// Every rule's name, in the registry's order.
pub fn rule_names() -> Vec<&'static str> {
    Rule::ALL.iter().map(|rule| rule.name()).collect()
}

/// What `--explain` prints for the rule named `name`: its name, severity and class, then its
/// documentation; `None` for a name no rule has.
pub fn explain(name: &str) -> Option<String> {
    let rule = Rule::from_name(name)?;
    let class = match rule.class() {
        Class::Broken => "must be fixed, cannot be acknowledged",
        Class::Hygiene => "house rule, acknowledged with `allow`",
        Class::Risky => "makes the migration risky",
        Class::MultiStep => "makes the migration multi-step",
    };
    let mut text = format!(
        "{} ({}, {class})\n\n{}\n",
        rule.name(),
        rule.severity(),
        rule.docs()
    );
    if rule == Rule::AlterTableForm {
        text.push_str(&format!("\n{}\n", forms::describe_alter_table_forms()));
    }
    Some(text)
}

/// A file outside any migrations folder: its own SQL, directives and documentation only.
fn lint_single_file(path: &Path) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(sql) => {
            let file = SourceFile::new(path, sql);
            let findings = runner::lint_standalone(&file);
            runner::file_report(&file, findings)
        }
        Err(error) => runner::problem_report(
            path,
            &[Problem::UnreadableFile {
                path: path.to_path_buf(),
                message: error.to_string(),
            }],
        ),
    }
}

fn is_migration_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| parse_file_name(&name.to_string_lossy()).is_ok())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
