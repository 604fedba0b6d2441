//! `cargo xtask repair VERSION --applied|--not-applied --reason TEXT`: settles a failed or
//! unfinished migration that the runner's own recovery cannot decide, once the live schema
//! agrees with the claim (or `--force` overrides it), and logs who did it and why.

use anyhow::{bail, Context, Result};
use migrations::recovery::{self, Settlement};
use migrations::{history, DatabaseUrl, Direction, Migration};
use postgres::Client;
use serde::Serialize;

use crate::flags::{Format, RepairArgs};
use crate::plumbing::journal::{Entry, Journal, Outcome, Settled, Subject};
use crate::plumbing::recovery::{examine, Evidence};
use crate::plumbing::{project, target_database};

/// `repair --format json` (documented in README).
#[derive(Serialize)]
struct Report<'a> {
    database: String,
    version: i32,
    name: &'a str,
    direction: &'a str,
    settled_as: &'a str,
    evidence: &'a str,
    forced: bool,
    applied_by: &'a str,
    reason: &'a str,
}

/// A settled run: what the log line and the printed report say.
struct Repaired<'a> {
    migration: &'a Migration,
    direction: Direction,
    settlement: Settlement,
    evidence: &'a str,
    forced: bool,
    applied_by: &'a str,
}

pub fn run(args: &RepairArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let settlement = if args.applied {
        Settlement::Applied
    } else {
        Settlement::NotApplied
    };
    let mut journal = Journal::open(args.log.path.as_deref(), "repair", &url)?;
    journal.guard(|journal| {
        let Some(migration) = set.get(args.version) else {
            bail!(
                "there is no migration {} in {}",
                args.version,
                project::migrations_dir(args.database.dir.as_deref()).display()
            );
        };
        let label = migration.label();
        let _lock = target_database::lock(&url, "repair", args.lock_wait)?;
        let mut client = url.connect(&format!("{} repair", target_database::APPLICATION))?;
        let direction = unfinished_direction(&mut client, &url, migration)?;
        let evidence = examine(&mut client, migration)?;
        let forced = !evidence.supports(settlement);
        if forced && !args.force {
            bail!(
                "refusing to record {label} as {}: {}; check the schema, or pass --force to record it anyway",
                settlement.as_str().replace('_', " "),
                evidence.describe()
            );
        }
        if let (Settlement::NotApplied, Evidence::NotApplied {
            leftover: Some(index),
            ..
        }) = (settlement, &evidence)
        {
            history::drop_index_concurrently(&mut client, index)
                .with_context(|| format!("dropping {index}, left by {label}"))?;
        }
        let applied_by = target_database::applied_by(&url);
        recovery::settle(&mut client, migration, direction, settlement, &applied_by)
            .with_context(|| format!("recording {label} as {}", settlement.as_str()))?;
        let repaired = Repaired {
            migration,
            direction,
            settlement,
            evidence: evidence.describe(),
            forced,
            applied_by: &applied_by,
        };
        record(journal, &repaired, &args.reason)?;
        print(&repaired, args, &url)
    })
}

/// The direction of `migration`'s failed or unfinished run, refused when there is none or its
/// statement still runs on the server.
fn unfinished_direction(
    client: &mut Client,
    url: &DatabaseUrl,
    migration: &Migration,
) -> Result<Direction> {
    let label = migration.label();
    let context = || format!("reading the migration history of {url}");
    let history = history::read(client).with_context(context)?;
    let Some(row) = history.unfinished(migration.version) else {
        bail!("{label} has no failed or unfinished run to repair (see `cargo xtask status`)");
    };
    let direction = row.direction;
    // A state table from before the runner recorded its backend gets the columns here.
    history::ensure_tables(client).with_context(context)?;
    if let Some(orphan) = recovery::orphan(client, migration.version)
        .context("looking for the run's backend in pg_stat_activity")?
    {
        bail!(
            "{label} is still running on the server ({orphan}); wait for it, or stop it with `cargo xtask migrate --stop-orphaned-run`"
        );
    }
    Ok(direction)
}

fn record(journal: &mut Journal, repaired: &Repaired<'_>, reason: &str) -> Result<()> {
    let subject = Subject::Migration {
        version: repaired.migration.version,
        name: &repaired.migration.name,
        direction: repaired.direction,
    };
    let outcome = if repaired.forced {
        Outcome::RepairedForced
    } else {
        Outcome::Repaired
    };
    journal.record(&Entry {
        settled: Some(Settled {
            settlement: repaired.settlement,
            applied_by: repaired.applied_by,
            reason: Some(reason),
            evidence: repaired.evidence,
        }),
        ..Entry::new(subject, outcome)
    })
}

fn print(repaired: &Repaired<'_>, args: &RepairArgs, url: &DatabaseUrl) -> Result<()> {
    let settled_as = repaired.settlement.as_str();
    match args.output.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&Report {
                database: url.redacted(),
                version: repaired.migration.version,
                name: &repaired.migration.name,
                direction: repaired.direction.as_str(),
                settled_as,
                evidence: repaired.evidence,
                forced: repaired.forced,
                applied_by: repaired.applied_by,
                reason: &args.reason,
            })
            .context("serializing the report")?
        ),
        Format::Text => println!(
            "{}: recorded as {}{} ({}); by {}: {}",
            repaired.migration.label(),
            settled_as.replace('_', " "),
            if repaired.forced { ", forced" } else { "" },
            repaired.evidence,
            repaired.applied_by,
            args.reason
        ),
    }
    Ok(())
}
