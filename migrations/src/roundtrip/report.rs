//! What the round-trip reports per migration (the failed step, its cause, a data hazard's
//! place, the schema differences), and how a report is filled in from the snapshots.

use crate::model::{Migration, Version};
use crate::schema::data::Filled;
use crate::schema::{Difference, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Up,
    Down,
    Reup,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Up => "up",
            Step::Down => "down",
            Step::Reup => "reup",
        }
    }
}

/// Why a migration failed the round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// It fails, or leaves a different schema, with no rows at all: a defect of the scripts.
    Schema,
    /// It fails only once the tables hold rows: a rollback that breaks on real data.
    Data,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Schema => "schema",
            Cause::Data => "data",
        }
    }
}

/// Where a data hazard struck, as PostgreSQL reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hazard {
    pub table: Option<String>,
    pub column: Option<String>,
    /// The offending value, or PostgreSQL's detail naming it (`Key (email)=(x1) is duplicated.`).
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub version: Version,
    pub name: String,
    /// The step that failed, `None` when the migration passed.
    pub failed_step: Option<Step>,
    pub error: Option<String>,
    /// Set with `failed_step`.
    pub cause: Option<Cause>,
    /// For a data hazard: the table, column and value that broke the step.
    pub hazard: Option<Hazard>,
    /// The reason given by `-- xtask: rollback-data-hazard -- reason`, when a data hazard was found.
    pub acknowledged: Option<String>,
    pub differences: Vec<String>,
    pub warnings: Vec<String>,
    /// Every table the scripts name that existed after the up got generated rows before the down.
    pub filled: bool,
}

impl MigrationReport {
    /// Passed, or failed only on data with the hazard acknowledged.
    pub fn passed(&self) -> bool {
        self.failed_step.is_none()
            || (self.cause == Some(Cause::Data) && self.acknowledged.is_some())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Start the round-trip at this version; earlier migrations are only applied.
    pub from: Option<Version>,
    /// Column order differences fail the migration instead of warning.
    pub strict_column_order: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub migrations: Vec<MigrationReport>,
    /// Whether snapshots were scoped to what each migration touched.
    pub scoped: bool,
}

/// The report of a migration that has not failed yet.
pub(super) fn report_for(migration: &Migration) -> MigrationReport {
    MigrationReport {
        version: migration.version,
        name: migration.name.clone(),
        failed_step: None,
        error: None,
        cause: None,
        hazard: None,
        acknowledged: None,
        differences: Vec::new(),
        warnings: Vec::new(),
        filled: true,
    }
}

/// Applies `-- xtask: rollback-data-hazard -- reason` from either file to a data hazard, and
/// says so when there is none for it to cover.
pub(super) fn acknowledge(report: &mut MigrationReport, migration: &Migration) {
    let reason = [&migration.up, &migration.down]
        .into_iter()
        .find_map(|script| script.directives.data_hazard.clone());
    let Some(reason) = reason else {
        return;
    };
    if report.cause == Some(Cause::Data) {
        report.acknowledged = Some(reason);
    } else if report.passed() {
        report.warnings.push(
            "`rollback-data-hazard` is declared but the rollback met no data hazard: the directive can go"
                .to_owned(),
        );
    }
}

/// Whether every named table got rows, and a warning for each one that did not.
pub(super) fn note_fill(report: &mut MigrationReport, filled: &Filled) {
    report.filled = filled.unfilled.is_empty();
    report.warnings.extend(filled.warnings());
}

/// Down must restore the schema before up; re-up (when it ran) must reproduce the schema after
/// up. A down that did not restore is the failing step even when the re-up then failed on it.
pub(super) fn compare(
    report: &mut MigrationReport,
    before: &Snapshot,
    after_down: &Snapshot,
    after_up: &Snapshot,
    after_reup: Option<&Snapshot>,
    options: &Options,
) {
    let mut record = |step: Step, label: &str, expected: &Snapshot, actual: &Snapshot| {
        let mut failed = false;
        for Difference { kind, text } in expected.diff(actual) {
            let text = format!("{label}: {text}");
            if !kind.fails(options.strict_column_order) {
                report.warnings.push(text);
            } else {
                failed = true;
                report.differences.push(text);
            }
        }
        if failed {
            report.failed_step = Some(match (step, report.failed_step) {
                (Step::Reup, Some(earlier)) => earlier,
                _ => step,
            });
            report.cause = Some(Cause::Schema);
        }
    };
    record(Step::Down, "after down", before, after_down);
    if let Some(after_reup) = after_reup {
        record(Step::Reup, "after re-up", after_up, after_reup);
    }
}
