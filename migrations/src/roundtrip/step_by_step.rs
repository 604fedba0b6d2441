//! A pair run as a deploy runs it: the up committed on its own, whole-schema snapshots between
//! real steps, and, around a script that must run outside a transaction, generated rows
//! committed and deleted afterwards.

use postgres::Client;

use crate::model::Migration;
use crate::roundtrip::one_transaction::{with_rows, Pass};
use crate::roundtrip::report::{compare, note_fill, report_for, MigrationReport, Options, Step};
use crate::roundtrip::script::{mentioned_names, record_failure, run_alone};
use crate::schema::data::{fill_tables, Filled};
use crate::schema::{Scope, SnapshotReader};

/// The pair as a deploy runs it, with whole-schema snapshots between real steps: the up
/// committed on its own. Down and re-up then run in one transaction that is rolled back when both
/// can; around a script that must run outside a transaction they commit, and the generated rows
/// are deleted afterwards by the id of the transaction that made them.
pub(super) fn step_by_step(
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
