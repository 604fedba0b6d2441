//! A transactional pair in one transaction: up, generated rows, down and re-up between
//! savepoints, snapshots scoped to the names the scripts mention (wider when the event triggers
//! saw more), and a failure with rows retried with other text and then without rows.

use postgres::{Client, GenericClient};

use crate::model::Migration;
use crate::roundtrip::report::{compare, note_fill, report_for, MigrationReport, Options, Step};
use crate::roundtrip::script::{execute, mentioned_names, record_failure, run_script, Failure};
use crate::schema::data::{fill_tables, fill_tables_shaped, TextShape};
use crate::schema::{Scope, Snapshot, SnapshotReader};

/// What the down and the re-up did after one up.
pub(super) struct Pass {
    pub(super) failure: Option<Failure>,
    pub(super) after_down: Option<Snapshot>,
    pub(super) after_reup: Option<Snapshot>,
}

/// The four states of a pair whose down ran: compared once the transaction is done.
struct States {
    before: Snapshot,
    after_up: Snapshot,
    after_down: Snapshot,
    after_reup: Option<Snapshot>,
}

impl States {
    fn compare(&self, report: &mut MigrationReport, options: &Options) {
        compare(
            report,
            &self.before,
            &self.after_down,
            &self.after_up,
            self.after_reup.as_ref(),
            options,
        );
    }
}

/// `None` when the pair must run with its up committed first (see the module documentation).
pub(super) fn in_one_transaction(
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
    let states = States {
        before,
        after_up,
        after_down,
        after_reup: pass.after_reup,
    };
    let unnamed = touched_beyond(&mut transaction, scoped, &named)?;
    let states = if unnamed.is_empty() {
        transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
        states
    } else {
        let reup_ran = states.after_reup.is_some();
        read_again_wider(
            &mut transaction,
            reader,
            migration,
            &named,
            &unnamed,
            reup_ran,
        )?
    };
    transaction.commit()?;
    states.compare(&mut report, options);
    Ok(Some(report))
}

/// The scripts reached objects their SQL does not name (a CASCADE): reads all four states again
/// over those too, walking back through the savepoints, and redoes the up at the end.
fn read_again_wider(
    transaction: &mut impl GenericClient,
    reader: &SnapshotReader,
    migration: &Migration,
    named: &[String],
    unnamed: &[String],
    reup_ran: bool,
) -> Result<States, postgres::Error> {
    let wider: Vec<String> = named.iter().chain(unnamed).cloned().collect();
    let wider_scope = if unnamed.iter().any(|name| name == "*") {
        Scope::All
    } else {
        Scope::Names(&wider)
    };
    let after_reup = match reup_ran {
        true => {
            let snapshot = reader.read(transaction, wider_scope)?;
            transaction.batch_execute("ROLLBACK TO SAVEPOINT after_down")?;
            Some(snapshot)
        }
        false => None,
    };
    let after_down = reader.read(transaction, wider_scope)?;
    transaction.batch_execute("ROLLBACK TO SAVEPOINT after_up")?;
    let after_up = reader.read(transaction, wider_scope)?;
    transaction.batch_execute("ROLLBACK TO SAVEPOINT before_up")?;
    let before = reader.read(transaction, wider_scope)?;
    execute(transaction, &migration.up)?;
    Ok(States {
        before,
        after_up,
        after_down,
        after_reup,
    })
}

/// Down and re-up after `SAVEPOINT after_up`, with generated rows in the named tables. The
/// failure, if any, is recorded in the report with its cause: a step that fails with rows runs
/// again with text of other shapes when PostgreSQL refused the text itself (a generated word
/// where a version is parsed is the generator's fault, not the rollback's), then on empty tables.
/// `Err(failure)`: the up must commit before the down can run (see the module documentation).
pub(super) fn with_rows(
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
