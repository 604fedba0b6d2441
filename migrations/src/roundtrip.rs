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
//!
//! This file runs the migrations in order; `one_transaction` and `step_by_step` check one pair
//! each way, `script` runs one script and names its failure, `report` holds what was found.

mod one_transaction;
mod report;
mod script;
mod step_by_step;

use postgres::error::SqlState;
use postgres::Client;

use crate::runner::describe_sql_error;
use crate::schema::SnapshotReader;
use crate::source::MigrationSet;

use self::one_transaction::in_one_transaction;
use self::report::{acknowledge, report_for};
pub use self::report::{Cause, Hazard, MigrationReport, Options, Report, Step};
pub(crate) use self::script::{execute, mentioned_names};
use self::step_by_step::step_by_step;

const SCOPE_SETUP: &str = include_str!("schema/scope.sql");

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
