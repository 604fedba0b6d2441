//! `cargo xtask check-compat --against GIT_REF`: the strategy's first principle, checked with the
//! previous application's own queries. The backend's `.sqlx/` files at GIT_REF hold every query
//! it runs and the columns it expects back; each is prepared on a scratch database migrated to the
//! current head. A query that no longer prepares, or whose columns changed, breaks that release.

use std::path::Path;

use anyhow::{Context, Result};
use migrations::history;
use migrations::runner::{Event, Runner};
use migrations::{Direction, Migration, MigrationSet, ScratchDatabase};
use postgres::Client;
use xshell::{cmd, Shell};

use crate::flags::CheckCompatArgs;
use crate::sqlx_data::RecordedQuery;
use crate::{database, project};

pub fn run(args: &CheckCompatArgs) -> Result<()> {
    let set = database::load(args.server.dir.as_deref())?;
    let server = database::server(args.server.database_url.as_deref())?;
    let repo = args.repo.clone().unwrap_or_else(project::root);
    let breaks = check(&server, &set, &repo, &args.against)?;
    if breaks.is_empty() {
        println!(
            "every query of {} prepares on the head schema with the same columns",
            args.against
        );
        return Ok(());
    }
    for line in &breaks {
        println!("{line}");
    }
    anyhow::bail!(
        "{} queries of the application at {} break on the new migrations",
        breaks.len(),
        args.against
    )
}

/// One line per query of `git_ref` that the head schema breaks, naming the migration and object.
pub fn check(
    server: &migrations::DatabaseUrl,
    set: &MigrationSet,
    repo: &Path,
    git_ref: &str,
) -> Result<Vec<String>> {
    let queries = recorded_queries(repo, git_ref)?;
    if queries.is_empty() {
        anyhow::bail!("{git_ref} has no .sqlx/ query files: nothing to check against");
    }
    let scratch = database::migrated_scratch(server, set)?;
    let mut client = scratch.url().connect(database::APPLICATION)?;
    let broken: Vec<(&RecordedQuery, String)> = queries
        .iter()
        .filter_map(|query| incompatibility(&mut client, query).map(|why| (query, why)))
        .collect();
    if broken.is_empty() {
        return Ok(Vec::new());
    }
    let culprits = first_breaking_migrations(server, set, &broken)?;
    Ok(broken
        .iter()
        .zip(culprits)
        .map(|((query, why), culprit)| {
            format!(
                "{}: {why}\n    broken by {}\n    query: {}",
                query.file,
                culprit.unwrap_or_else(|| "the schema as a whole".to_owned()),
                one_line(&query.query)
            )
        })
        .collect())
}

fn recorded_queries(repo: &Path, git_ref: &str) -> Result<Vec<RecordedQuery>> {
    let sh = Shell::new()?;
    sh.change_dir(repo);
    let listing = cmd!(sh, "git ls-tree --name-only {git_ref} .sqlx/")
        .quiet()
        .read()
        .with_context(|| format!("cannot list .sqlx/ at {git_ref} in {}", repo.display()))?;
    let mut queries = Vec::new();
    for file in listing.lines().filter(|file| file.ends_with(".json")) {
        let spec = format!("{git_ref}:{file}");
        let text = cmd!(sh, "git show {spec}")
            .quiet()
            .read()
            .with_context(|| format!("cannot read {spec}"))?;
        queries.push(RecordedQuery::parse(&text, spec)?);
    }
    Ok(queries)
}

/// Why `query` does not work on this schema as it did, or `None` when it does.
fn incompatibility(client: &mut Client, query: &RecordedQuery) -> Option<String> {
    let statement = match client.prepare(&query.query) {
        Ok(statement) => statement,
        Err(error) => {
            return Some(
                error
                    .as_db_error()
                    .map_or_else(|| error.to_string(), |db| db.message().to_owned()),
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

/// For each broken query, the first migration after which it breaks: migrations are applied one
/// at a time to a scratch database and the queries prepared after each.
fn first_breaking_migrations(
    server: &migrations::DatabaseUrl,
    set: &MigrationSet,
    broken: &[(&RecordedQuery, String)],
) -> Result<Vec<Option<String>>> {
    let scratch = ScratchDatabase::create(server, "bomizzel_compat")?;
    let mut client = scratch.url().connect(database::APPLICATION)?;
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
        for (index, (query, _)) in broken.iter().enumerate() {
            // A query fails before the tables it reads exist: only a migration after which a
            // working query stops working broke it.
            match incompatibility(&mut client, query) {
                None => worked[index] = true,
                Some(_) if worked[index] => {
                    culprits[index] = Some(migration.up.file_name());
                    worked[index] = false;
                }
                Some(_) => {}
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
