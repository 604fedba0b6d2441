//! The rollback round-trip: for each migration in order, on a scratch database, check that its
//! down file restores exactly the schema before it, with data in the tables, and that its up file
//! runs again afterwards to the same schema.
//!
//! A transactional pair runs in one transaction, snapshots taken between the steps:
//!
//! ```text
//! snapshot; SAVEPOINT before_up; up; SAVEPOINT after_up; snapshot; <generated rows>; down;
//! SAVEPOINT after_down; snapshot; up again; snapshot; ROLLBACK TO after_up; COMMIT
//! ```
//!
//! Snapshots read only the objects the pair's SQL names, so a step costs what the migration
//! costs, not what the schema costs, and the whole run is O(number of migrations). Event
//! triggers record what the scripts really touched; when that reaches past the names (a CASCADE),
//! the snapshots are taken again over both, going back through the savepoints. Without the
//! privilege to create event triggers, or for scripts outside a transaction, whole-schema
//! snapshots are taken instead.
//!
//! A step that fails with generated rows runs again without them (back to `after_up`): if it
//! passes then, the failure is a data hazard (`Cause::Data`: the rollback breaks once rows
//! exist), otherwise a defect (`Cause::Schema`). Where one shared transaction changes the outcome
//! (an enum label added by the up cannot be used before it commits), the pair runs as a deploy
//! runs it: the up committed, then down and re-up in a transaction that is rolled back. Generated
//! rows never outlive the migration's check: rolled back with it, or, around scripts that must
//! run outside a transaction, deleted by the transaction id that made them.

use postgres::error::SqlState;
use postgres::{Client, GenericClient};

use crate::model::{Migration, Script, Version};
use crate::runner::describe_sql_error;
use crate::schema::data::{fill_tables, fill_tables_shaped, Filled, TextShape};
use crate::schema::{Difference, Scope, Snapshot, SnapshotReader};
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
                report.cause = Some(Cause::Schema);
                report.error = Some(describe_sql_error(&migration.up, &error));
                migrations.push(report);
            }
            continue;
        }
        let transactional =
            !migration.up.directives.no_transaction && !migration.down.directives.no_transaction;
        let mut report = match transactional {
            true => match in_one_transaction(client, &reader, migration, scoped, options)? {
                Some(report) => report,
                None => step_by_step(client, &reader, migration, options)?,
            },
            false => step_by_step(client, &reader, migration, options)?,
        };
        acknowledge(&mut report, migration);
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
fn acknowledge(report: &mut MigrationReport, migration: &Migration) {
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

/// Creates the event triggers that record touched objects; `false` when not allowed to.
fn install_scope_recorder(client: &mut Client) -> Result<bool, postgres::Error> {
    let mut transaction = client.transaction()?;
    match transaction.batch_execute(SCOPE_SETUP) {
        Ok(()) => {
            transaction.commit()?;
            Ok(true)
        }
        Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A step that failed.
#[derive(Debug)]
struct Failure {
    step: Step,
    message: String,
    code: Option<SqlState>,
    hazard: Hazard,
}

impl Failure {
    /// PostgreSQL could not read a text value as what a cast, an index or a trigger wanted.
    fn refused_text(&self) -> bool {
        self.code == Some(SqlState::INVALID_TEXT_REPRESENTATION)
    }

    /// The up's new enum label used before the up committed: one shared transaction's artefact.
    fn needs_committed_up(&self) -> bool {
        self.code == Some(SqlState::UNSAFE_NEW_ENUM_VALUE_USAGE)
    }
}

/// What the down and the re-up did after one up.
struct Pass {
    failure: Option<Failure>,
    after_down: Option<Snapshot>,
    after_reup: Option<Snapshot>,
}

/// Records a failure in the report: `first`, met with rows, and `without_rows`, the same steps
/// run again on empty tables (`None` when no rows were generated, so there was nothing to retry).
fn record_failure(
    report: &mut MigrationReport,
    first: Failure,
    without_rows: Option<Option<Failure>>,
) {
    let (failure, cause) = match without_rows {
        Some(None) => (first, Cause::Data),
        Some(Some(again)) => (again, Cause::Schema),
        None => (first, Cause::Schema),
    };
    report.failed_step = Some(failure.step);
    report.error = Some(failure.message);
    report.cause = Some(cause);
    if cause == Cause::Data {
        report.hazard = Some(failure.hazard);
    }
}

/// `None` when the pair must run with its up committed first (see the module documentation).
fn in_one_transaction(
    client: &mut Client,
    reader: &SnapshotReader,
    migration: &Migration,
    scoped: bool,
    options: &Options,
) -> Result<Option<MigrationReport>, postgres::Error> {
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
    if let Some(failure) = run_script(
        &mut transaction,
        &migration.up,
        Step::Up,
        "SAVEPOINT after_up",
    )? {
        // Nothing to rebuild: the failed up is rolled back and the next migration meets the
        // schema as it was. Ours stays unapplied, which the next ones will show if they need it.
        record_failure(&mut report, failure, None);
        return Ok(Some(report));
    }
    let after_up = reader.read(&mut transaction, scope)?;
    let Ok(pass) = with_rows(
        &mut transaction,
        reader,
        scope,
        migration,
        &named,
        &mut report,
    )?
    else {
        transaction.rollback()?;
        return Ok(None);
    };
    let Some(after_down) = pass.after_down else {
        // The down failed: keep the state right after the up, and go on.
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        transaction.commit()?;
        return Ok(Some(report));
    };
    let after_reup = pass.after_reup;
    let reup_ran = after_reup.is_some();
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
    Ok(Some(report))
}

/// Down and re-up after `SAVEPOINT after_up`, with generated rows in the named tables. The
/// failure, if any, is recorded in the report with its cause: a step that fails with rows runs
/// again with text of other shapes when PostgreSQL refused the text itself (a generated word
/// where a version is parsed is the generator's fault, not the rollback's), then on empty tables.
/// `Err(failure)`: the up must commit before the down can run (see the module documentation).
fn with_rows(
    transaction: &mut impl GenericClient,
    reader: &SnapshotReader,
    scope: Scope<'_>,
    migration: &Migration,
    named: &[String],
    report: &mut MigrationReport,
) -> Result<Result<Pass, Failure>, postgres::Error> {
    let filled = fill_tables(transaction, named);
    note_fill(report, &filled);
    let mut pass = down_and_reup(transaction, reader, scope, migration)?;
    let Some(failure) = pass.failure.take() else {
        return Ok(Ok(pass));
    };
    if failure.needs_committed_up() {
        return Ok(Err(failure));
    }
    if filled.tables.is_empty() {
        record_failure(report, failure, None);
        return Ok(Ok(pass));
    }
    if failure.refused_text() {
        for shape in TextShape::Word.others() {
            transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
            fill_tables_shaped(transaction, named, shape);
            let pass = down_and_reup(transaction, reader, scope, migration)?;
            if pass.failure.is_none() {
                report.warnings.push(format!(
                    "generated text like '{}' breaks the {} and text like '{}' does not: {}",
                    TextShape::Word.text(1),
                    failure.step.as_str(),
                    shape.text(1),
                    failure.message
                ));
                return Ok(Ok(pass));
            }
        }
    }
    transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
    let mut again = down_and_reup(transaction, reader, scope, migration)?;
    if let Some(failure) = again
        .failure
        .take_if(|failure| failure.needs_committed_up())
    {
        return Ok(Err(failure));
    }
    record_failure(report, failure, Some(again.failure.take()));
    Ok(Ok(again))
}

/// Runs the down, then the re-up, inside the caller's transaction, snapshotting after each. A
/// failed re-up is rolled back to `after_down`: often it is a down that did not restore, which
/// the comparison of what the down left then shows.
fn down_and_reup(
    transaction: &mut impl GenericClient,
    reader: &SnapshotReader,
    scope: Scope<'_>,
    migration: &Migration,
) -> Result<Pass, postgres::Error> {
    // The re-up touches what the up touched: not recording it again saves the triggers' work.
    let then = "SAVEPOINT after_down; SET LOCAL bomizzel.record = off";
    if let Some(failure) = run_script(transaction, &migration.down, Step::Down, then)? {
        return Ok(Pass {
            failure: Some(failure),
            after_down: None,
            after_reup: None,
        });
    }
    let after_down = reader.read(transaction, scope)?;
    let failure = run_script(transaction, &migration.up, Step::Reup, "")?;
    let after_reup = match failure {
        Some(_) => {
            transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
            None
        }
        None => Some(reader.read(transaction, scope)?),
    };
    Ok(Pass {
        failure,
        after_down: Some(after_down),
        after_reup,
    })
}

fn note_fill(report: &mut MigrationReport, filled: &Filled) {
    report.filled = filled.unfilled.is_empty();
    report.warnings.extend(filled.warnings());
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

/// The pair as a deploy runs it, with whole-schema snapshots between real steps: the up
/// committed on its own. Down and re-up then run in one transaction that is rolled back when both
/// can; around a script that must run outside a transaction they commit, and the generated rows
/// are deleted afterwards by the id of the transaction that made them.
fn step_by_step(
    client: &mut Client,
    reader: &SnapshotReader,
    migration: &Migration,
    options: &Options,
) -> Result<MigrationReport, postgres::Error> {
    let mut report = report_for(migration);
    let named = mentioned_names(&[&migration.up.sql, &migration.down.sql]);
    let before = reader.read(client, Scope::All)?;
    if let Some(failure) = run_alone(client, &migration.up, Step::Up)? {
        record_failure(&mut report, failure, None);
        return Ok(report);
    }
    let after_up = reader.read(client, Scope::All)?;
    let transactional =
        !migration.up.directives.no_transaction && !migration.down.directives.no_transaction;
    let pass = if transactional {
        let mut transaction = client.transaction()?;
        transaction.batch_execute("SAVEPOINT after_up")?;
        let pass = with_rows(
            &mut transaction,
            reader,
            Scope::All,
            migration,
            &named,
            &mut report,
        )?
        .unwrap_or_else(|failure| {
            // The down adds an enum label the re-up uses: as it would in a real deploy.
            record_failure(&mut report, failure, None);
            Pass {
                failure: None,
                after_down: None,
                after_reup: None,
            }
        });
        transaction.rollback()?;
        pass
    } else {
        committed_down_and_reup(client, reader, migration, &named, &mut report)?
    };
    if let Some(after_down) = &pass.after_down {
        compare(
            &mut report,
            &before,
            after_down,
            &after_up,
            pass.after_reup.as_ref(),
            options,
        );
    }
    Ok(report)
}

/// Down and re-up where one of them must run outside a transaction: each step commits, so the
/// generated rows are committed too, and removed at the end. A step that fails with rows runs
/// again once they are gone.
fn committed_down_and_reup(
    client: &mut Client,
    reader: &SnapshotReader,
    migration: &Migration,
    named: &[String],
    report: &mut MigrationReport,
) -> Result<Pass, postgres::Error> {
    let mut rows = Some(GeneratedRows::make(client, named, report)?);
    let mut pass = Pass {
        failure: None,
        after_down: None,
        after_reup: None,
    };
    for (step, script) in [(Step::Down, &migration.down), (Step::Reup, &migration.up)] {
        let Some(failure) = run_alone(client, script, step)? else {
            let snapshot = reader.read(client, Scope::All)?;
            match step {
                Step::Down => pass.after_down = Some(snapshot),
                _ => pass.after_reup = Some(snapshot),
            }
            continue;
        };
        let again = match rows.take().filter(|rows| !rows.filled.tables.is_empty()) {
            Some(rows) => {
                rows.remove(client, report);
                Some(run_alone(client, script, step)?)
            }
            None => None,
        };
        let passed_again = matches!(again, Some(None));
        record_failure(report, failure, again);
        if !passed_again {
            break;
        }
        let snapshot = reader.read(client, Scope::All)?;
        match step {
            Step::Down => pass.after_down = Some(snapshot),
            _ => pass.after_reup = Some(snapshot),
        }
    }
    if let Some(rows) = rows {
        rows.remove(client, report);
    }
    Ok(pass)
}

/// Rows generated and committed for a pair that cannot run in one transaction.
struct GeneratedRows {
    filled: Filled,
    /// The transaction ids that wrote them, `first..after` (the generator's savepoints each
    /// have their own). Only this connection writes to a scratch database, so every row of these
    /// tables with an `xmin` in that range is a generated one.
    transaction_ids: (i64, i64),
}

impl GeneratedRows {
    const TRANSACTION_ID: &'static str = "SELECT (pg_current_xact_id()::xid)::text::bigint";

    fn make(
        client: &mut Client,
        named: &[String],
        report: &mut MigrationReport,
    ) -> Result<GeneratedRows, postgres::Error> {
        let mut transaction = client.transaction()?;
        let first: i64 = transaction.query_one(Self::TRANSACTION_ID, &[])?.get(0);
        let filled = fill_tables(&mut transaction, named);
        transaction.commit()?;
        let after: i64 = client.query_one(Self::TRANSACTION_ID, &[])?.get(0);
        note_fill(report, &filled);
        Ok(GeneratedRows {
            filled,
            transaction_ids: (first, after),
        })
    }

    /// Deletes the rows, children before parents. Rows a script rewrote carry a new `xmin` and
    /// stay: each table where some stay is named in a warning.
    fn remove(self, client: &mut Client, report: &mut MigrationReport) {
        let (first, after) = self.transaction_ids;
        for table in self.filled.tables.iter().rev() {
            let deleted = client.execute(
                &format!(
                    "DELETE FROM {table} WHERE xmin::text::bigint >= $1 AND xmin::text::bigint < $2"
                ),
                &[&first, &after],
            );
            if let Err(error) = deleted {
                report.warnings.push(format!(
                    "generated rows stay in {table}: {}",
                    error
                        .as_db_error()
                        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
                ));
            }
        }
    }
}

/// Runs one script as the runner would: in its own transaction unless it must run outside one.
fn run_alone(
    client: &mut Client,
    script: &Script,
    step: Step,
) -> Result<Option<Failure>, postgres::Error> {
    if script.directives.no_transaction {
        return run_script(client, script, step, "");
    }
    let mut transaction = client.transaction()?;
    let failure = run_script(&mut transaction, script, step, "")?;
    if failure.is_none() {
        transaction.commit()?;
    }
    Ok(failure)
}

/// Runs a script as it is, a batched one over its whole key range.
pub(crate) fn execute(
    client: &mut impl GenericClient,
    script: &Script,
) -> Result<(), postgres::Error> {
    match &script.directives.batched {
        Some(batched) => crate::runner::run_whole(client, script, batched).map(|_| ()),
        None => client.batch_execute(&script.sql),
    }
}

/// Runs one script, then `then` in the same round trip (it follows the script, so PostgreSQL's
/// error positions still point into the file). `Ok(Some)`: the script failed, and how; `Err`:
/// the connection is gone.
fn run_script(
    client: &mut impl GenericClient,
    script: &Script,
    step: Step,
    then: &str,
) -> Result<Option<Failure>, postgres::Error> {
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
        Ok(()) => Ok(None),
        Err(error) => match error.as_db_error() {
            Some(db) => Ok(Some(Failure {
                step,
                message: describe_sql_error(script, &error),
                code: Some(db.code().clone()),
                hazard: Hazard {
                    table: db.table().map(str::to_owned),
                    column: db.column().map(str::to_owned),
                    value: if *db.code() == SqlState::NOT_NULL_VIOLATION {
                        Some("NULL".to_owned())
                    } else {
                        db.detail().map(str::to_owned)
                    },
                },
            })),
            None => Err(error),
        },
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
