//! `cargo xtask check-compat --against GIT_REF`: the strategy's first principle, checked with the
//! previous application's own queries. The backend's `.sqlx/` files at GIT_REF hold every query
//! it runs and the columns it expects back; each is prepared on a scratch database migrated to the
//! current head. A query that no longer prepares, or whose columns changed, breaks that release.
//!
//! Preparing misses the writes a new constraint refuses (an `INSERT` that leaves out a new NOT
//! NULL column, an `UPDATE` a new CHECK rejects), so every query also runs, with generated values,
//! over generated rows, in a transaction rolled back afterwards: once on the schema of GIT_REF's
//! own migrations and once on the head. Only a query that ran on its own schema and fails on the
//! head, for a reason that is the schema's and not the generated data's, is a break.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use migrations::database::quote_identifier;
use migrations::history;
use migrations::model::{parse_file_name, Version};
use migrations::runner::{Event, Runner};
use migrations::schema::data::{self, ColumnValue, Values};
use migrations::{Direction, Migration, MigrationSet, ScratchDatabase};
use postgres::error::{DbError, SqlState};
use postgres::{Client, GenericClient};
use xshell::{cmd, Shell};

use crate::flags::CheckCompatArgs;
use crate::linter::application::{self, Access, Application};
use crate::plumbing::sqlx_data::RecordedQuery;
use crate::plumbing::{project, target_database};

pub fn run(args: &CheckCompatArgs) -> Result<()> {
    let set = target_database::load(args.server.dir.as_deref())?;
    let server = target_database::server(args.server.scratch.database_url.as_deref())?;
    let repo = args.repo.clone().unwrap_or_else(project::root);
    let checked = check(&server, &set, &repo, &args.against)?;
    let breaks = &checked.breaks;
    if breaks.is_empty() {
        println!(
            "every query of {} prepares on the head schema with the same columns, and runs there as it runs on its own ({})",
            args.against,
            checked.coverage()
        );
        return Ok(());
    }
    for line in breaks {
        println!("{line}");
    }
    anyhow::bail!(
        "{} queries of the application at {} break on the new migrations",
        breaks.len(),
        args.against
    )
}

/// What checking a release's queries found.
pub struct Checked {
    /// One line per query the head schema breaks, naming the migration and object.
    pub breaks: Vec<String>,
    /// How many queries ran with generated values on the release's own schema: only those are
    /// judged by running them; the rest are judged by preparing them.
    pub executed: usize,
    pub queries: usize,
}

impl Checked {
    pub fn coverage(&self) -> String {
        format!(
            "{} of {} queries ran with generated values on the release's schema, the others were prepared",
            self.executed, self.queries
        )
    }
}

/// Checks every query of `git_ref` against the head schema.
pub fn check(
    server: &migrations::DatabaseUrl,
    set: &MigrationSet,
    repo: &Path,
    git_ref: &str,
) -> Result<Checked> {
    let queries = recorded_queries(repo, git_ref)?;
    if queries.is_empty() {
        anyhow::bail!("{git_ref} has no .sqlx/ query files: nothing to check against");
    }
    let released = released_versions(repo, git_ref)?;
    let release_set = MigrationSet {
        dir: set.dir.clone(),
        migrations: set
            .migrations
            .iter()
            .filter(|migration| released.contains(&migration.version))
            .cloned()
            .collect(),
    };
    let release_scratch = target_database::migrated_scratch(server, &release_set)
        .with_context(|| format!("building the schema of {git_ref}"))?;
    let mut release = release_scratch
        .url()
        .connect(target_database::APPLICATION)?;
    // The values come from the release's schema: the types it gives the parameters (the types
    // its `.sqlx/` data was prepared with) and the values its columns accept; the head runs the
    // very same literals. In a transaction: reading the catalog for values uses savepoints.
    let mut reading = release.transaction()?;
    let bindings: Vec<Vec<Binding>> = queries
        .iter()
        .map(|query| bindings(&mut reading, query))
        .collect();
    reading.rollback()?;
    // Every run: a query with each of its bindings, or once, unbound, to be counted as not run.
    let runs: Vec<(usize, &RecordedQuery, Option<&Binding>)> = queries
        .iter()
        .zip(&bindings)
        .enumerate()
        .flat_map(|(index, (query, bindings))| match bindings.as_slice() {
            [] => vec![(index, query, None)],
            bindings => bindings
                .iter()
                .map(|binding| (index, query, Some(binding)))
                .collect(),
        })
        .collect();
    let bound = || runs.iter().map(|(_, query, binding)| (*query, *binding));
    let before = execute_all(&mut release, bound())?;

    let head_scratch = target_database::migrated_scratch(server, set)?;
    let mut head = head_scratch.url().connect(target_database::APPLICATION)?;
    let after = execute_all(&mut head, bound())?;
    let application = Application::of(queries.iter().cloned());
    let mut broken: Vec<Suspect<'_>> = Vec::new();
    for (index, query) in queries.iter().enumerate() {
        if let Some(why) = incompatibility(&mut head, query) {
            broken.push(Suspect {
                query,
                binding: bindings[index].first(),
                why,
            });
            continue;
        }
        for (run, (_, _, binding)) in runs.iter().enumerate().filter(|(_, run)| run.0 == index) {
            if let (Execution::Worked, Execution::Failed(failure)) = (&before[run], &after[run]) {
                if caused_by_schema(failure, &mut release, &mut head, &application, query)? {
                    broken.push(Suspect {
                        query,
                        binding: *binding,
                        why: failure.to_string(),
                    });
                    break;
                }
            }
        }
    }
    let executed = queries
        .iter()
        .enumerate()
        .filter(|(index, _)| {
            runs.iter().zip(&before).any(|((query, _, _), execution)| {
                query == index && matches!(execution, Execution::Worked)
            })
        })
        .count();
    let mut checked = Checked {
        breaks: Vec::new(),
        executed,
        queries: queries.len(),
    };
    if broken.is_empty() {
        return Ok(checked);
    }
    let culprits = first_breaking_migrations(server, set, &broken)?;
    checked.breaks = broken
        .iter()
        .zip(culprits)
        .map(|(suspect, culprit)| {
            format!(
                "{}: {}\n    broken by {}\n    query: {}",
                suspect.query.file,
                suspect.why,
                culprit.unwrap_or_else(|| "the schema as a whole".to_owned()),
                one_line(&suspect.query.query)
            )
        })
        .collect();
    Ok(checked)
}

/// A query the head schema breaks, with the values it ran with and why it breaks.
struct Suspect<'q> {
    query: &'q RecordedQuery,
    binding: Option<&'q Binding>,
    why: String,
}

fn recorded_queries(repo: &Path, git_ref: &str) -> Result<Vec<RecordedQuery>> {
    let sh = Shell::new()?;
    sh.change_dir(repo);
    let mut queries = Vec::new();
    for file in files_at(&sh, git_ref, ".sqlx/")?
        .iter()
        .filter(|file| file.ends_with(".json"))
    {
        let spec = format!("{git_ref}:{file}");
        let text = cmd!(sh, "git show {spec}")
            .quiet()
            .read()
            .with_context(|| format!("cannot read {spec}"))?;
        queries.push(RecordedQuery::parse(&text, spec)?);
    }
    Ok(queries)
}

/// The versions of the migrations `git_ref` had: the schema its queries were written for.
fn released_versions(repo: &Path, git_ref: &str) -> Result<BTreeSet<Version>> {
    let sh = Shell::new()?;
    sh.change_dir(repo);
    let folder = format!("{}/", project::MIGRATIONS_DIR);
    let versions: BTreeSet<Version> = files_at(&sh, git_ref, &folder)?
        .iter()
        .filter_map(|path| parse_file_name(path.rsplit('/').next()?).ok())
        .filter(|name| name.direction == Direction::Up)
        .map(|name| name.version)
        .collect();
    if versions.is_empty() {
        anyhow::bail!(
            "{git_ref} has no migrations in {folder}: the schema its queries ran on is unknown"
        );
    }
    Ok(versions)
}

/// The paths of the files in `folder` at `git_ref`.
fn files_at(sh: &Shell, git_ref: &str, folder: &str) -> Result<Vec<String>> {
    let listing = cmd!(sh, "git ls-tree --name-only {git_ref} {folder}")
        .quiet()
        .read()
        .with_context(|| {
            format!(
                "cannot list {folder} at {git_ref} in {}",
                sh.current_dir().display()
            )
        })?;
    Ok(listing.lines().map(str::to_owned).collect())
}

/// Why `query` does not prepare on this schema as it did, or `None` when it does.
fn incompatibility(client: &mut Client, query: &RecordedQuery) -> Option<String> {
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
struct Binding {
    types: Vec<String>,
    values: Vec<ColumnValue>,
}

/// The ways `query` runs with generated values: every parameter at its first value, then each
/// written parameter in turn at each other value its column accepts. Empty when it does not
/// prepare on this schema or a parameter has a type no value is generated for (it is then only
/// prepared).
fn bindings(client: &mut impl GenericClient, query: &RecordedQuery) -> Vec<Binding> {
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
enum Execution {
    NotRun,
    Worked,
    Failed(Failure),
}

/// Why PostgreSQL refused a query, and the object it named.
struct Failure {
    code: SqlState,
    message: String,
    table: Option<String>,
    column: Option<String>,
    constraint: Option<String>,
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
fn execute_all<'q>(
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

/// Whether the head's refusal of a query that ran on its release's schema, with the same values,
/// is the schema's doing rather than the generated data's.
fn caused_by_schema(
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
fn first_breaking_migrations(
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

fn one_line(sql: &str) -> String {
    let joined = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 120 {
        format!("{}...", joined.chars().take(117).collect::<String>())
    } else {
        joined
    }
}
