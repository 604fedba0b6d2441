//! `cargo xtask status`: every migration's state. Read-only: it creates no table and takes no lock.

use anyhow::{Context, Result};
use migrations::{history, statuses, MigrationStatus, State};
use serde::Serialize;

use crate::flags::{Format, StatusArgs};
use crate::plumbing::{fleet, target_database};

#[derive(Serialize)]
struct Report<'a> {
    database: String,
    migrations: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    version: i32,
    name: &'a str,
    state: &'static str,
    applied_at: Option<&'a str>,
    duration_ms: Option<i64>,
    error: Option<&'a str>,
}

pub fn run(args: &StatusArgs) -> Result<()> {
    if let Some(file) = &args.fleet.fleet {
        return fleet::status(
            args.database.dir.as_deref(),
            file.as_deref(),
            args.output.format,
            args.check,
        );
    }
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let mut client = url.connect(&format!("{} status", target_database::APPLICATION))?;
    let history = history::read(&mut client)
        .with_context(|| format!("reading the migration history of {url}"))?;
    let statuses = statuses(&set, &history);
    match args.output.format {
        Format::Json => {
            let report = Report {
                database: url.redacted(),
                migrations: statuses.iter().map(row).collect(),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => print_table(&url.redacted(), &statuses),
    }
    let unclean: Vec<String> = statuses
        .iter()
        .filter(|status| !status.state.is_clean())
        .map(|status| format!("{} is {}", status.label(), status.state))
        .collect();
    if args.check && !unclean.is_empty() {
        anyhow::bail!("{url} is not clean: {}", unclean.join(", "));
    }
    Ok(())
}

fn row(status: &MigrationStatus) -> Row<'_> {
    Row {
        version: status.version,
        name: &status.name,
        state: status.state.as_str(),
        applied_at: status.applied_at.as_deref(),
        duration_ms: status.duration_ms,
        error: status.error.as_deref(),
    }
}

fn print_table(database: &str, statuses: &[MigrationStatus]) {
    println!("database {database}");
    let name_width = statuses
        .iter()
        .map(|status| status.name.len())
        .chain(["NAME".len()])
        .max()
        .unwrap_or_default();
    println!(
        "{:<7}  {:<name_width$}  {:<8}  {:<27}  DURATION",
        "VERSION", "NAME", "STATE", "APPLIED AT"
    );
    for status in statuses {
        println!(
            "{:<7}  {:<name_width$}  {:<8}  {:<27}  {}",
            format!("{:04}", status.version),
            status.name,
            status.state.as_str(),
            status.applied_at.as_deref().unwrap_or("-"),
            status
                .duration_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
        );
        if let Some(error) = &status.error {
            println!("         {error}");
        }
    }
    let count = |state: State| statuses.iter().filter(|s| s.state == state).count();
    let mut summary = vec![format!("{} applied", count(State::Applied))];
    for state in [
        State::Pending,
        State::Modified,
        State::Missing,
        State::Failed,
    ] {
        if count(state) > 0 {
            summary.push(format!("{} {state}", count(state)));
        }
    }
    println!("{} migrations: {}", statuses.len(), summary.join(", "));
}
