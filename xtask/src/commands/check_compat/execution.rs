//! Running a release's queries on a schema: each prepared (same columns?), then run with generated
//! values over generated rows in a transaction rolled back afterwards, each in its own savepoint.

use std::fmt;

use anyhow::{Context, Result};
use migrations::database::quote_identifier;
use migrations::schema::data::{self, ColumnValue, Values};
use postgres::error::{DbError, SqlState};
use postgres::{Client, GenericClient};

use crate::linter::application;
use crate::plumbing::sqlx_data::RecordedQuery;

/// Why `query` does not prepare on this schema as it did, or `None` when it does.
pub(super) fn incompatibility(client: &mut Client, query: &RecordedQuery) -> Option<String> {
    let statement = match client.prepare(&query.query) {
        Ok(statement) => statement,
        Err(error) => {
            return Some(
                error
                    .as_db_error()
                    .map_or_else(|| error.to_string(), |db| Failure::of(db).to_string()),
            )
        }
    };
    let now: Vec<(String, String)> = statement
        .columns()
        .iter()
        .map(|column| (column.name().to_owned(), column.type_().name().to_owned()))
        .collect();
    let before: Vec<(String, Option<String>)> = query
        .describe
        .columns
        .iter()
        .map(|column| {
            (
                column.name.clone(),
                column.type_info.as_str().map(str::to_lowercase),
            )
        })
        .collect();
    if now.len() != before.len() {
        return Some(format!(
            "returns {} columns, the release expects {}",
            now.len(),
            before.len()
        ));
    }
    now.iter()
        .zip(&before)
        .find_map(|((name, kind), (old_name, old_kind))| {
            if name != old_name {
                Some(format!("column {old_name} is now called {name}"))
            } else if old_kind.as_ref().is_some_and(|old| old != kind) {
                Some(format!(
                    "column {name} changed type from {} to {kind}",
                    old_kind.as_deref().unwrap_or("?")
                ))
            } else {
                None
            }
        })
}

/// A query's parameters as the release's schema types them, each with a generated literal.
/// Literals with casts rather than typed binary parameters: the same text runs on every schema
/// compared whatever its types became there, and any type the generator knows can be bound
/// without a Rust value for it.
pub(super) struct Binding {
    types: Vec<String>,
    values: Vec<ColumnValue>,
}

/// The ways `query` runs with generated values: every parameter at its first value, then each
/// written parameter in turn at each other value its column accepts. Empty when it does not
/// prepare on this schema or a parameter has a type no value is generated for (it is then only
/// prepared).
pub(super) fn bindings(client: &mut impl GenericClient, query: &RecordedQuery) -> Vec<Binding> {
    let Ok(statement) = client.prepare(&query.query) else {
        return Vec::new();
    };
    let columns = application::parameter_columns(&query.query);
    let mut types = Vec::new();
    let mut choices: Vec<Vec<ColumnValue>> = Vec::new();
    for (number, parameter) in (1..).zip(statement.params()) {
        // What the release's schema accepts in the column the parameter feeds (a valid email, a
        // key its foreign key finds, a row to update); the type's plain value where the query
        // does not say.
        let values = columns
            .get(&number)
            .and_then(|place| {
                data::values_for_column(client, &place.table, &place.column, place.usage).ok()
            })
            .filter(|values| !values.is_empty());
        let values = match values {
            Some(values) => values,
            None => match data::literal_for_type(client, parameter.oid(), 0) {
                Ok(literal) => vec![ColumnValue::Literal(literal)],
                Err(_) => return Vec::new(),
            },
        };
        choices.push(values);
        types.push(format!(
            "{}.{}",
            quote_identifier(parameter.schema()),
            quote_identifier(parameter.name())
        ));
    }
    let first: Vec<ColumnValue> = choices.iter().map(|values| values[0].clone()).collect();
    let mut bindings = vec![Binding {
        types: types.clone(),
        values: first.clone(),
    }];
    for (position, values) in choices.iter().enumerate() {
        for value in &values[1..] {
            let mut varied = first.clone();
            varied[position] = value.clone();
            bindings.push(Binding {
                types: types.clone(),
                values: varied,
            });
        }
    }
    bindings
}

/// What running a query with its binding did.
pub(super) enum Execution {
    NotRun,
    Worked,
    Failed(Failure),
}

/// Why PostgreSQL refused a query, and the object it named.
pub(super) struct Failure {
    pub code: SqlState,
    message: String,
    pub table: Option<String>,
    column: Option<String>,
    pub constraint: Option<String>,
}

impl Failure {
    fn of(error: &DbError) -> Failure {
        Failure {
            code: error.code().clone(),
            message: error.message().to_owned(),
            table: error.table().map(str::to_owned),
            column: error.column().map(str::to_owned),
            constraint: error.constraint().map(str::to_owned),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        match (&self.table, &self.column, &self.constraint) {
            (Some(table), Some(column), _) => write!(f, " (column {table}.{column})"),
            (Some(table), None, Some(constraint)) => {
                write!(f, " (constraint {constraint} of {table})")
            }
            (Some(table), None, None) => write!(f, " (table {table})"),
            _ => Ok(()),
        }
    }
}

const PREPARED: &str = "bomizzel_compat_query";

/// Runs each query that has a binding on `client`'s schema, over generated rows in every table,
/// in one transaction rolled back at the end; each in a savepoint of its own, so a failure
/// neither aborts the others nor leaves them different rows.
pub(super) fn execute_all<'q>(
    client: &mut Client,
    queries: impl IntoIterator<Item = (&'q RecordedQuery, Option<&'q Binding>)>,
) -> Result<Vec<Execution>> {
    let sequences = Sequences::read(client)?;
    let mut transaction = client.transaction()?;
    let tables: Vec<String> = transaction
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))",
            &[],
        )
        .context("listing the tables to fill")?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // A table the generator cannot fill stays empty: queries find no rows there, which hides a
    // break but never invents one.
    let _unfilled = data::fill_tables_with(
        &mut transaction,
        &tables,
        data::ROWS_PER_TABLE,
        Values::Every,
    );
    let executions = queries
        .into_iter()
        .map(|(query, binding)| match binding {
            Some(binding) => execute(&mut transaction, query, binding),
            None => Ok(Execution::NotRun),
        })
        .collect::<Result<Vec<_>>>()?;
    transaction.rollback()?;
    sequences.restore(client)?;
    Ok(executions)
}

/// Where every sequence stood. Sequences ignore rollbacks: put back, they give the next run on
/// the same database the same generated ids, so a query meets the same rows after each migration.
struct Sequences {
    oids: Vec<u32>,
    values: Vec<i64>,
    called: Vec<bool>,
}

impl Sequences {
    fn read(client: &mut Client) -> Result<Sequences> {
        let rows = client
            .query(
                "SELECT seqrelid, COALESCE(pg_sequence_last_value(seqrelid), seqstart),
                        pg_sequence_last_value(seqrelid) IS NOT NULL
                 FROM pg_sequence",
                &[],
            )
            .context("reading the sequences")?;
        Ok(Sequences {
            oids: rows.iter().map(|row| row.get(0)).collect(),
            values: rows.iter().map(|row| row.get(1)).collect(),
            called: rows.iter().map(|row| row.get(2)).collect(),
        })
    }

    fn restore(&self, client: &mut Client) -> Result<()> {
        client
            .execute(
                "SELECT setval(oid, value, called)
                 FROM unnest($1::oid[], $2::int8[], $3::bool[]) AS saved (oid, value, called)",
                &[&self.oids, &self.values, &self.called],
            )
            .context("putting the sequences back")?;
        Ok(())
    }
}

fn execute(
    transaction: &mut postgres::Transaction<'_>,
    query: &RecordedQuery,
    binding: &Binding,
) -> Result<Execution> {
    let list = |items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!(" ({})", items.join(", "))
        }
    };
    let prepare = format!(
        "PREPARE {PREPARED}{} AS {}",
        list(&binding.types),
        query.query
    );
    let mut literals = Vec::new();
    for value in &binding.values {
        literals.push(match value {
            ColumnValue::Literal(literal) => literal.clone(),
            ColumnValue::Existing(read) => existing_value(transaction, read)?,
        });
    }
    let execute = format!("EXECUTE {PREPARED}{}", list(&literals));
    transaction.batch_execute(&format!("SAVEPOINT {PREPARED}"))?;
    // Outer error: it did not prepare; inner: it prepared, and this is how it ran.
    let outcome = transaction
        .batch_execute(&prepare)
        .map(|()| transaction.batch_execute(&execute));
    transaction.batch_execute(&format!(
        "ROLLBACK TO SAVEPOINT {PREPARED}; RELEASE SAVEPOINT {PREPARED}"
    ))?;
    let ran = match outcome {
        Err(error) => Err(error),
        Ok(executed) => {
            // A prepared statement outlives the savepoint it was made in.
            transaction.batch_execute(&format!("DEALLOCATE {PREPARED}"))?;
            executed
        }
    };
    match ran {
        Ok(()) => Ok(Execution::Worked),
        Err(error) => match error.as_db_error() {
            Some(db) => Ok(Execution::Failed(Failure::of(db))),
            None => Err(error).with_context(|| format!("running {}", query.file)),
        },
    }
}

/// The literal a parameter takes here from an existing row (a parent's key, a row to find),
/// `NULL` when there is none (or the table is not there on this schema; its own savepoint keeps
/// the transaction).
fn existing_value(transaction: &mut postgres::Transaction<'_>, read: &str) -> Result<String> {
    transaction.batch_execute("SAVEPOINT bomizzel_parent_key")?;
    let key = match transaction.query_opt(read, &[]) {
        Ok(row) => {
            transaction.batch_execute("RELEASE SAVEPOINT bomizzel_parent_key")?;
            row.map(|row| row.get(0))
        }
        Err(_) => {
            transaction.batch_execute(
                "ROLLBACK TO SAVEPOINT bomizzel_parent_key; RELEASE SAVEPOINT bomizzel_parent_key",
            )?;
            None
        }
    };
    Ok(key.unwrap_or_else(|| "NULL".to_owned()))
}
