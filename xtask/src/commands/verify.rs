//! `cargo xtask verify`: post-migration checks on a live database.

use std::path::Path;

use anyhow::{Context, Result};
use migrations::schema::{Scope, Snapshot};
use migrations::{history, statuses, MigrationSet, State};
use postgres::Client;
use serde::Serialize;

use crate::flags::{Format, VerifyArgs};
use crate::plumbing::{fleet, project, target_database};

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub details: Vec<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    database: String,
    checks: &'a [Check],
}

pub struct Expectations<'a> {
    pub snapshot: &'a Path,
    pub allow_pending: bool,
    pub strict_column_order: bool,
}

pub fn run(args: &VerifyArgs) -> Result<()> {
    if let Some(file) = &args.fleet.fleet {
        return fleet::verify(args, file.as_deref());
    }
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let mut client = url.connect(&format!("{} verify", target_database::APPLICATION))?;
    let snapshot = project::snapshot_path(&set.dir, args.snapshot.as_deref());
    let expectations = Expectations {
        snapshot: &snapshot,
        allow_pending: args.allow_pending,
        strict_column_order: args.strict_column_order,
    };
    let mut checks = checks(&mut client, &set, &expectations)?;
    checks.push(crate::plumbing::standbys::check(
        &mut client,
        &args.standby_url,
    )?);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&JsonReport {
                database: url.redacted(),
                checks: &checks
            })?
        ),
        Format::Text => {
            println!("database {url}");
            print_checks(&checks);
        }
    }
    let failed = failed_names(&checks);
    if !failed.is_empty() {
        anyhow::bail!("{url} failed verification: {}", failed.join(", "));
    }
    Ok(())
}

pub fn failed_names(checks: &[Check]) -> Vec<&'static str> {
    checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| check.name)
        .collect()
}

pub fn print_checks(checks: &[Check]) {
    for line in check_lines(checks) {
        println!("{line}");
    }
}

/// `ok    name` / `FAIL  name`, details indented below.
pub fn check_lines(checks: &[Check]) -> Vec<String> {
    let mut lines = Vec::new();
    for check in checks {
        lines.push(format!(
            "{:<4}  {}",
            if check.passed { "ok" } else { "FAIL" },
            check.name
        ));
        lines.extend(check.details.iter().map(|detail| format!("      {detail}")));
    }
    lines
}

pub fn checks(
    client: &mut Client,
    set: &MigrationSet,
    expect: &Expectations<'_>,
) -> Result<Vec<Check>> {
    let history = history::read(client).context("reading the migration history")?;
    let statuses = statuses(set, &history);
    let unexpected: Vec<String> = statuses
        .iter()
        .filter(|s| !(s.state.is_clean() || (s.state == State::Pending && expect.allow_pending)))
        .map(|s| match &s.error {
            Some(error) => format!("{} is {}: {error}", s.label(), s.state),
            None => format!("{} is {}", s.label(), s.state),
        })
        .collect();
    let at_head =
        statuses.iter().all(|s| s.state.is_clean()) && history.newest_applied() == set.head();
    let history_check = Check {
        name: "history matches the migration files",
        passed: unexpected.is_empty(),
        details: unexpected,
    };

    let invalid = history::invalid_indexes(client).context("listing invalid indexes")?;
    let invalid_check = Check {
        name: "no INVALID index",
        passed: invalid.is_empty(),
        details: invalid
            .iter()
            .map(|index| format!("{index} is INVALID (a failed CREATE INDEX CONCURRENTLY): drop it and build it again"))
            .collect(),
    };

    let not_valid: Vec<String> = client
        .query(
            "SELECT format('%s on %s', quote_ident(conname), conrelid::regclass) FROM pg_constraint
             WHERE NOT convalidated AND conrelid <> 0 ORDER BY 1",
            &[],
        )
        .context("listing NOT VALID constraints")?
        .iter()
        .map(|row| {
            let name: String = row.get(0);
            format!("{name} is NOT VALID: existing rows are unchecked until ALTER TABLE ... VALIDATE CONSTRAINT")
        })
        .collect();
    let not_valid_check = Check {
        name: "constraints left NOT VALID (listed, not a failure)",
        passed: true,
        details: not_valid,
    };

    let (passed, details) = if at_head {
        compare_with_snapshot(client, expect)?
    } else {
        (
            true,
            vec!["skipped: the database is not at the head migration".into()],
        )
    };
    let snapshot_check = Check {
        name: "live schema equals the committed snapshot",
        passed,
        details,
    };
    Ok(vec![
        history_check,
        invalid_check,
        not_valid_check,
        snapshot_check,
    ])
}

/// The live schema against the committed snapshot: a difference is a change made outside the
/// migrations (a hotfix by hand), or a snapshot nobody regenerated.
fn compare_with_snapshot(
    client: &mut Client,
    expect: &Expectations<'_>,
) -> Result<(bool, Vec<String>)> {
    let path = expect.snapshot;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let missing = format!(
                "{} does not exist; run `cargo xtask schema dump`",
                path.display()
            );
            return Ok((false, vec![missing]));
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let committed = Snapshot::parse(&text)
        .with_context(|| format!("{} is not a schema snapshot", path.display()))?;
    let live = Snapshot::read(client, Scope::All).context("reading the live schema")?;
    let mut passed = true;
    let details = committed
        .diff(&live)
        .into_iter()
        .map(|difference| {
            if !difference.kind.fails(expect.strict_column_order) {
                format!("warning: {difference} (snapshot -> live)")
            } else {
                passed = false;
                format!("{difference} (snapshot -> live)")
            }
        })
        .collect();
    Ok((passed, details))
}
