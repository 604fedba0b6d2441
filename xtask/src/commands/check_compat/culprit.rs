//! Who broke a query: whether the head's refusal is the schema's doing rather than the generated
//! data's, and the first migration after which a working query stops working.

use anyhow::{Context, Result};
use migrations::runner::{Event, Runner};
use migrations::{history, Direction, Migration, MigrationSet, ScratchDatabase};
use postgres::error::SqlState;
use postgres::Client;

use super::execution::{execute_all, incompatibility, Binding, Execution, Failure};
use crate::linter::application::{Access, Application};
use crate::plumbing::sqlx_data::RecordedQuery;
use crate::plumbing::target_database;

/// A query the head schema breaks, with the values it ran with and why it breaks.
pub(super) struct Suspect<'q> {
    pub query: &'q RecordedQuery,
    pub binding: Option<&'q Binding>,
    pub why: String,
}

/// Whether the head's refusal of a query that ran on its release's schema, with the same values,
/// is the schema's doing rather than the generated data's.
pub(super) fn caused_by_schema(
    failure: &Failure,
    release: &mut Client,
    head: &mut Client,
    application: &Application,
    query: &RecordedQuery,
) -> Result<bool> {
    if failure.code == SqlState::UNIQUE_VIOLATION || failure.code == SqlState::EXCLUSION_VIOLATION {
        // Generated values collide where the application's need not.
        return Ok(false);
    }
    if failure.code != SqlState::CHECK_VIOLATION && failure.code != SqlState::FOREIGN_KEY_VIOLATION
    {
        return Ok(true);
    }
    let (Some(table), Some(name)) = (&failure.table, &failure.constraint) else {
        return Ok(true);
    };
    let now = constraint(head, table, name)?;
    if now.is_some() && constraint(release, table, name)? == now {
        // The same constraint let the same values through on the release's schema: only the
        // generated rows differ.
        return Ok(false);
    }
    // A new foreign key that refuses a key the query writes refuses a generated id; one that
    // refuses the query's change to the rows it references (a delete) refuses the application.
    let referenced = now.and_then(|(_, referenced)| referenced);
    Ok(referenced.is_none_or(|referenced| {
        application
            .queries()
            .iter()
            .find(|parsed| parsed.file == query.file)
            .is_none_or(|parsed| parsed.relation(&referenced) == Some(Access::Writes))
    }))
}

/// A constraint's definition and, for a foreign key, the table it references.
fn constraint(
    client: &mut Client,
    table: &str,
    name: &str,
) -> Result<Option<(String, Option<String>)>> {
    let row = client
        .query_opt(
            "SELECT pg_get_constraintdef(co.oid), NULLIF(co.confrelid, 0)::regclass::text
             FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
             WHERE c.relname = $1 AND pg_table_is_visible(c.oid) AND co.conname = $2",
            &[&table, &name],
        )
        .with_context(|| format!("reading constraint {name} of {table}"))?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// For each broken query, the first migration after which it breaks: migrations are applied one
/// at a time to a scratch database and the queries prepared and run after each.
pub(super) fn first_breaking_migrations(
    server: &migrations::DatabaseUrl,
    set: &MigrationSet,
    broken: &[Suspect<'_>],
) -> Result<Vec<Option<String>>> {
    let scratch = ScratchDatabase::create(server, "bomizzel_compat")?;
    let mut client = scratch.url().connect(target_database::APPLICATION)?;
    history::ensure_tables(&mut client)?;
    let mut culprits: Vec<Option<String>> = vec![None; broken.len()];
    let mut worked = vec![false; broken.len()];
    for migration in &set.migrations {
        let one: [&Migration; 1] = [migration];
        Runner::new(&mut client, migrations::runner::Settings::default())
            .run(&one, Direction::Up, &mut |_: &Event<'_>| {})
            .with_context(|| {
                format!(
                    "applying {} to find what broke the queries",
                    migration.label()
                )
            })?;
        let executions = execute_all(
            &mut client,
            broken
                .iter()
                .map(|suspect| (suspect.query, suspect.binding)),
        )?;
        for (index, (suspect, execution)) in broken.iter().zip(executions).enumerate() {
            // A query fails before the tables it reads exist: only a migration after which a
            // working query stops working broke it.
            let works = incompatibility(&mut client, suspect.query).is_none()
                && !matches!(execution, Execution::Failed(_));
            if works {
                worked[index] = true;
            } else if worked[index] {
                culprits[index] = Some(migration.up.file_name());
                worked[index] = false;
            }
        }
    }
    Ok(culprits)
}
