//! The rollback round-trip: for each migration in order, on a scratch database, check that its
//! down file restores exactly the schema before it, with data in the tables, and that its up file
//! runs again afterwards to the same schema.
//!
//! A transactional pair runs in one transaction, snapshots taken between the steps:
//!
//! ```text
//! snapshot; SAVEPOINT before_up; up; snapshot; SAVEPOINT after_up; <generated rows>; down;
//! snapshot; SAVEPOINT after_down; up again; snapshot; ROLLBACK TO after_up; COMMIT
//! ```
//!
//! Snapshots read only the objects the pair's SQL names, so a step costs what the migration
//! costs, not what the schema costs, and the whole run is O(number of migrations). Event
//! triggers record what the scripts really touched; when that reaches past the names (a CASCADE),
//! the snapshots are taken again over both, going back through the savepoints. Without the
//! privilege to create event triggers, or for scripts outside a transaction, whole-schema
//! snapshots are taken instead.

use postgres::{Client, GenericClient};

use crate::model::{Migration, Script, Version};
use crate::runner::describe_sql_error;
use crate::schema::data::fill_tables;
use crate::schema::{Difference, DifferenceKind, Scope, Snapshot, SnapshotReader};
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
    // A scratch database: its commits need not wait for the disk.
    client.batch_execute("SET synchronous_commit = off")?;
    let scoped = install_scope_recorder(client)?;
    let reader = SnapshotReader::prepare(client)?;
    let mut migrations = Vec::new();
    for migration in &set.migrations {
        if options.from.is_some_and(|from| migration.version < from) {
            if let Err(error) = execute(client, &migration.up) {
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
            in_one_transaction(client, &reader, migration, scoped, options)?
        } else {
            step_by_step(client, &reader, migration, options)?
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
    reader: &SnapshotReader,
    migration: &Migration,
    scoped: bool,
    options: &Options,
) -> Result<MigrationReport, postgres::Error> {
    let mut report = report_for(migration);
    let named = mentioned_names(&[&migration.up.sql, &migration.down.sql]);
    let scope = if scoped {
        Scope::Names(&named)
    } else {
        Scope::All
    };
    let mut transaction = client.transaction()?;
    // Savepoints ride in the same round trip as the statement before them: reading a snapshot
    // changes nothing, so each can be set before the read that follows it.
    transaction.batch_execute(if scoped {
        "DELETE FROM bomizzel_roundtrip.touched; SAVEPOINT before_up"
    } else {
        "SAVEPOINT before_up"
    })?;
    let before = reader.read(&mut transaction, scope)?;
    if !run_script(
        &mut transaction,
        &migration.up,
        Step::Up,
        "SAVEPOINT after_up",
        &mut report,
    )? {
        // Nothing to rebuild: the failed up is rolled back and the next migration meets the
        // schema as it was. Ours stays unapplied, which the next ones will show if they need it.
        return Ok(report);
    }
    let after_up = reader.read(&mut transaction, scope)?;
    report
        .warnings
        .extend(fill_tables(&mut transaction, &named));
    if !run_script(
        &mut transaction,
        &migration.down,
        Step::Down,
        // The re-up touches what the up touched: not recording it again saves the triggers' work.
        "SAVEPOINT after_down; SET LOCAL bomizzel.record = off",
        &mut report,
    )? {
        // Rebuild: keep the state right after the up, and go on.
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        transaction.commit()?;
        return Ok(report);
    }
    let after_down = reader.read(&mut transaction, scope)?;
    // A failed re-up is often a down that did not restore: compare what the down left either way.
    let reup_ran = run_script(&mut transaction, &migration.up, Step::Reup, "", &mut report)?;
    if !reup_ran {
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
    }
    let after_reup = match reup_ran {
        true => Some(reader.read(&mut transaction, scope)?),
        false => None,
    };
    let unnamed = touched_beyond(&mut transaction, scoped, &named)?;
    let (before, after_down, after_up, after_reup) = if unnamed.is_empty() {
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        (before, after_down, after_up, after_reup)
    } else {
        // The scripts reached objects their SQL does not name (a CASCADE): read all four states
        // again over those too, walking back through the savepoints, and redo the up at the end.
        let wider: Vec<String> = named.iter().chain(&unnamed).cloned().collect();
        let wider_scope = if unnamed.iter().any(|name| name == "*") {
            Scope::All
        } else {
            Scope::Names(&wider)
        };
        let after_reup = match reup_ran {
            true => {
                let snapshot = reader.read(&mut transaction, wider_scope)?;
                transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
                Some(snapshot)
            }
            false => None,
        };
        let after_down = reader.read(&mut transaction, wider_scope)?;
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        let after_up = reader.read(&mut transaction, wider_scope)?;
        transaction.batch_execute("ROLLBACK TO SAVEPOINT before_up")?;
        let before = reader.read(&mut transaction, wider_scope)?;
        execute(&mut transaction, &migration.up)?;
        (before, after_down, after_up, after_reup)
    };
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

/// The identifiers a script mentions: unquoted words folded to lower case as PostgreSQL folds
/// them, quoted ones as written. Keywords come along; they match no object and cost nothing.
pub(crate) fn mentioned_names(scripts: &[&str]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for script in scripts {
        let mut chars = script.chars().peekable();
        while let Some(character) = chars.next() {
            if character == '"' {
                let mut name = String::new();
                while let Some(next) = chars.next() {
                    if next == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    name.push(next);
                }
                names.insert(name);
            } else if character.is_alphabetic() || character == '_' {
                let mut name = character.to_lowercase().collect::<String>();
                while let Some(next) = chars
                    .peek()
                    .copied()
                    .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                {
                    name.extend(next.to_lowercase());
                    chars.next();
                }
                names.insert(name);
            }
        }
    }
    // PostgreSQL truncates identifiers at 63 bytes and refuses longer `name` values: a longer
    // word (in a comment, say) names nothing.
    names.into_iter().filter(|name| name.len() < 64).collect()
}

/// Names the event triggers saw touched that the scripts do not mention (`*`: could not tell).
fn touched_beyond(
    client: &mut impl GenericClient,
    scoped: bool,
    named: &[String],
) -> Result<Vec<String>, postgres::Error> {
    if !scoped {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            "SELECT DISTINCT name FROM bomizzel_roundtrip.touched WHERE NOT name = ANY ($1) ORDER BY 1",
            &[&named],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// For scripts that must run outside a transaction: whole-schema snapshots between real steps.
fn step_by_step(
    client: &mut Client,
    reader: &SnapshotReader,
    migration: &Migration,
    options: &Options,
) -> Result<MigrationReport, postgres::Error> {
    let mut report = report_for(migration);
    let before = reader.read(client, Scope::All)?;
    if !run_script(client, &migration.up, Step::Up, "", &mut report)? {
        return Ok(report);
    }
    let after_up = reader.read(client, Scope::All)?;
    // The generator uses savepoints, so it needs a transaction even here.
    let mut transaction = client.transaction()?;
    report.warnings.extend(fill_tables(
        &mut transaction,
        &mentioned_names(&[&migration.up.sql, &migration.down.sql]),
    ));
    transaction.commit()?;
    if !run_script(client, &migration.down, Step::Down, "", &mut report)? {
        return Ok(report);
    }
    let after_down = reader.read(client, Scope::All)?;
    let after_reup = match run_script(client, &migration.up, Step::Reup, "", &mut report)? {
        true => Some(reader.read(client, Scope::All)?),
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

/// Runs a script as it is, a batched one over its whole key range.
pub(crate) fn execute(
    client: &mut impl GenericClient,
    script: &Script,
) -> Result<(), postgres::Error> {
    match &script.directives.batched {
        Some(batched) => crate::batched::run_whole(client, script, batched).map(|_| ()),
        None => client.batch_execute(&script.sql),
    }
}

/// Runs one script, then `then` in the same round trip (it follows the script, so PostgreSQL's
/// error positions still point into the file). `Ok(false)`: the script failed, and the report
/// says how; `Err`: the connection is gone.
fn run_script(
    client: &mut impl GenericClient,
    script: &Script,
    step: Step,
    then: &str,
    report: &mut MigrationReport,
) -> Result<bool, postgres::Error> {
    let outcome = match &script.directives.batched {
        Some(_) => execute(client, script).and_then(|()| {
            if then.is_empty() {
                Ok(())
            } else {
                client.batch_execute(then)
            }
        }),
        None => {
            // The newline ends a trailing `--` comment, the `;` an unterminated last statement.
            let batch = if then.is_empty() {
                script.sql.clone()
            } else {
                format!("{}\n;{then}", script.sql)
            };
            client.batch_execute(&batch)
        }
    };
    match outcome {
        Ok(()) => Ok(true),
        Err(error) if error.as_db_error().is_some() => {
            report.failed_step = Some(step);
            report.error = Some(describe_sql_error(script, &error));
            Ok(false)
        }
        Err(error) => Err(error),
    }
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
