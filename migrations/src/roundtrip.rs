//! The rollback round-trip: for each migration in order, on a scratch database, check that its
//! down file restores exactly the schema before it, with data in the tables, and that its up file
//! runs again afterwards to the same schema.
//!
//! For a transactional pair everything happens in one transaction with savepoints:
//!
//! ```text
//! SAVEPOINT before_up; up; SAVEPOINT after_up; <generated rows>; down; SAVEPOINT after_down; up
//!   snapshot (re-up) ; ROLLBACK TO after_down  -> snapshot (down)
//!   ROLLBACK TO after_up -> snapshot (up)      ; ROLLBACK TO before_up  -> snapshot (before)
//! up; COMMIT
//! ```
//!
//! Event triggers record which objects the scripts touched, so each snapshot reads only those:
//! the cost of a step follows the size of the migration, not of the schema, and the whole run
//! is O(number of migrations). Without the privilege to create event triggers, or for scripts
//! outside a transaction, whole-schema snapshots are taken instead.

use postgres::{Client, GenericClient};

use crate::model::{Migration, Script, Version};
use crate::runner::describe_sql_error;
use crate::schema::data::fill_tables;
use crate::schema::{Difference, DifferenceKind, Scope, Snapshot};
use crate::source::MigrationSet;

const SCOPE_SETUP: &str = include_str!("schema/scope.sql");

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub version: Version,
    pub name: String,
    /// The step that failed, `None` when the migration passed.
    pub failed_step: Option<Step>,
    pub error: Option<String>,
    pub differences: Vec<String>,
    pub warnings: Vec<String>,
}

impl MigrationReport {
    pub fn passed(&self) -> bool {
        self.failed_step.is_none()
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

/// Runs the round-trip on `client`, a scratch database nobody else uses.
pub fn run(
    client: &mut Client,
    set: &MigrationSet,
    options: &Options,
) -> Result<Report, postgres::Error> {
    let scoped = install_scope_recorder(client)?;
    let mut migrations = Vec::new();
    for migration in &set.migrations {
        if options.from.is_some_and(|from| migration.version < from) {
            if let Err(error) = client.batch_execute(&migration.up.sql) {
                let mut report = report_for(migration);
                report.failed_step = Some(Step::Up);
                report.error = Some(describe_sql_error(&migration.up, &error));
                migrations.push(report);
            }
            continue;
        }
        let transactional =
            !migration.up.directives.no_transaction && !migration.down.directives.no_transaction;
        let report = if transactional {
            in_one_transaction(client, migration, scoped, options)?
        } else {
            step_by_step(client, migration, options)?
        };
        migrations.push(report);
    }
    Ok(Report { migrations, scoped })
}

fn report_for(migration: &Migration) -> MigrationReport {
    MigrationReport {
        version: migration.version,
        name: migration.name.clone(),
        failed_step: None,
        error: None,
        differences: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Creates the event triggers that record touched objects; `false` when not allowed to.
fn install_scope_recorder(client: &mut Client) -> Result<bool, postgres::Error> {
    let mut transaction = client.transaction()?;
    match transaction.batch_execute(SCOPE_SETUP) {
        Ok(()) => {
            transaction.commit()?;
            Ok(true)
        }
        Err(error) if error.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

fn in_one_transaction(
    client: &mut Client,
    migration: &Migration,
    scoped: bool,
    options: &Options,
) -> Result<MigrationReport, postgres::Error> {
    let mut report = report_for(migration);
    let mut transaction = client.transaction()?;
    if scoped {
        transaction.batch_execute("DELETE FROM bomizzel_roundtrip.touched")?;
    }
    transaction.batch_execute("SAVEPOINT before_up")?;
    if !run_script(&mut transaction, &migration.up, Step::Up, &mut report)? {
        // Nothing to rebuild: the failed up is rolled back and the next migration meets the
        // schema as it was. Ours stays unapplied, which the next ones will show if they need it.
        return Ok(report);
    }
    transaction.batch_execute("SAVEPOINT after_up")?;
    let touched_by_up = touched(&mut transaction, scoped)?;
    report.warnings.extend(fill_tables(
        &mut transaction,
        touched_by_up.as_deref().unwrap_or(&[]),
    ));
    // A failed down or re-up: rebuild by keeping the state right after the up, and go on.
    if !run_script(&mut transaction, &migration.down, Step::Down, &mut report)? {
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        transaction.commit()?;
        return Ok(report);
    }
    transaction.batch_execute("SAVEPOINT after_down")?;
    // A failed re-up is often a down that did not restore: compare what the down left either way.
    let reup_ran = run_script(&mut transaction, &migration.up, Step::Reup, &mut report)?;
    if !reup_ran {
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
    }
    let names = touched(&mut transaction, scoped)?;
    let scope = names.as_deref().map_or(Scope::All, Scope::Names);
    let after_reup = match reup_ran {
        true => Some(Snapshot::read(&mut transaction, scope)?),
        false => None,
    };
    transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
    let after_down = Snapshot::read(&mut transaction, scope)?;
    transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
    let after_up = Snapshot::read(&mut transaction, scope)?;
    transaction.batch_execute("ROLLBACK TO SAVEPOINT before_up")?;
    let before = Snapshot::read(&mut transaction, scope)?;
    transaction.batch_execute(&migration.up.sql)?;
    transaction.commit()?;
    compare(
        &mut report,
        &before,
        &after_down,
        &after_up,
        after_reup.as_ref(),
        options,
    );
    Ok(report)
}

/// For scripts that must run outside a transaction: whole-schema snapshots between real steps.
fn step_by_step(
    client: &mut Client,
    migration: &Migration,
    options: &Options,
) -> Result<MigrationReport, postgres::Error> {
    let mut report = report_for(migration);
    let before = Snapshot::read(client, Scope::All)?;
    if !run_script(client, &migration.up, Step::Up, &mut report)? {
        return Ok(report);
    }
    let after_up = Snapshot::read(client, Scope::All)?;
    let tables: Vec<String> = after_up
        .objects
        .keys()
        .filter_map(|object| object.strip_prefix("table "))
        .map(qualify)
        .collect();
    let touched_tables: Vec<String> = tables
        .into_iter()
        .filter(|table| {
            let object = format!("table {}", table.strip_prefix("public.").unwrap_or(table));
            before.objects.get(&object) != after_up.objects.get(&object)
        })
        .collect();
    // The generator uses savepoints, so it needs a transaction even here.
    let mut transaction = client.transaction()?;
    report
        .warnings
        .extend(fill_tables(&mut transaction, &touched_tables));
    transaction.commit()?;
    if !run_script(client, &migration.down, Step::Down, &mut report)? {
        return Ok(report);
    }
    let after_down = Snapshot::read(client, Scope::All)?;
    let after_reup = match run_script(client, &migration.up, Step::Reup, &mut report)? {
        true => Some(Snapshot::read(client, Scope::All)?),
        false => None,
    };
    compare(
        &mut report,
        &before,
        &after_down,
        &after_up,
        after_reup.as_ref(),
        options,
    );
    Ok(report)
}

fn qualify(name: &str) -> String {
    if name.contains('.') {
        name.to_owned()
    } else {
        format!("public.{name}")
    }
}

/// Runs one script. `Ok(false)`: it failed, and the report says how; `Err`: the connection is gone.
fn run_script(
    client: &mut impl GenericClient,
    script: &Script,
    step: Step,
    report: &mut MigrationReport,
) -> Result<bool, postgres::Error> {
    match client.batch_execute(&script.sql) {
        Ok(()) => Ok(true),
        Err(error) if error.as_db_error().is_some() => {
            report.failed_step = Some(step);
            report.error = Some(describe_sql_error(script, &error));
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// The names the scripts touched so far, `None` for "everything" (unscoped, or a command whose
/// objects the recorder could not name).
fn touched(
    client: &mut impl GenericClient,
    scoped: bool,
) -> Result<Option<Vec<String>>, postgres::Error> {
    if !scoped {
        return Ok(None);
    }
    let names: Vec<String> = client
        .query(
            "SELECT DISTINCT name FROM bomizzel_roundtrip.touched ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(if names.iter().any(|name| name == "*") {
        None
    } else {
        Some(names)
    })
}

/// Down must restore the schema before up; re-up (when it ran) must reproduce the schema after
/// up. A down that did not restore is the failing step even when the re-up then failed on it.
fn compare(
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
            if kind == DifferenceKind::ColumnOrder && !options.strict_column_order {
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
        }
    };
    record(Step::Down, "after down", before, after_down);
    if let Some(after_reup) = after_reup {
        record(Step::Reup, "after re-up", after_up, after_reup);
    }
}
