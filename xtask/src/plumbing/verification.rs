//! What `verify` checks on a live database (history against the files, INVALID indexes, NOT
//! VALID constraints, the live schema against the committed snapshot), shared by `verify`,
//! `verify --fleet`, `deploy-db` and `check-migrations`, which print the checks their own way.

use std::path::Path;

use anyhow::{Context, Result};
use migrations::schema::{self, Scope, Snapshot};
use migrations::{history, statuses, MigrationSet, State};
use postgres::Client;

use crate::plumbing::check::{Check, Verdict};

/// What the database is held to.
pub struct Expectations<'a> {
    pub snapshot: &'a Path,
    pub allow_pending: bool,
    pub strict_column_order: bool,
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
    let history_check = Check::of(
        "history matches the migration files",
        unexpected.is_empty(),
        unexpected,
    );
    let snapshot_check = if at_head {
        compare_with_snapshot(client, expect)?
    } else {
        Check::skipped(SNAPSHOT_CHECK, "the database is not at the head migration")
    };
    Ok(vec![
        history_check,
        invalid_indexes(client)?,
        not_valid_constraints(client)?,
        snapshot_check,
    ])
}

const SNAPSHOT_CHECK: &str = "live schema equals the committed snapshot";

fn invalid_indexes(client: &mut Client) -> Result<Check> {
    let invalid = history::invalid_indexes(client).context("listing invalid indexes")?;
    Ok(Check::of(
        "no INVALID index",
        invalid.is_empty(),
        invalid
            .iter()
            .map(|index| format!("{index} is INVALID (a failed CREATE INDEX CONCURRENTLY): drop it and build it again"))
            .collect(),
    ))
}

/// Listed for a person to validate, never a failure.
fn not_valid_constraints(client: &mut Client) -> Result<Check> {
    let not_valid: Vec<String> = schema::not_valid_constraints(client)
        .context("listing NOT VALID constraints")?
        .into_iter()
        .map(|name| {
            format!("{name} is NOT VALID: existing rows are unchecked until ALTER TABLE ... VALIDATE CONSTRAINT")
        })
        .collect();
    let verdict = if not_valid.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Warning
    };
    Ok(Check::new(
        "constraints left NOT VALID (listed, not a failure)",
        verdict,
        not_valid,
    ))
}

/// The live schema against the committed snapshot: a difference is a change made outside the
/// migrations (a hotfix by hand), or a snapshot nobody regenerated.
fn compare_with_snapshot(client: &mut Client, expect: &Expectations<'_>) -> Result<Check> {
    let path = expect.snapshot;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let missing = format!(
                "{} does not exist; run `cargo xtask schema dump`",
                path.display()
            );
            return Ok(Check::of(SNAPSHOT_CHECK, false, vec![missing]));
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let committed = Snapshot::parse(&text)
        .with_context(|| format!("{} is not a schema snapshot", path.display()))?;
    let live = Snapshot::read(client, Scope::All).context("reading the live schema")?;
    let mut verdict = Verdict::Passed;
    let details: Vec<String> = committed
        .diff(&live)
        .into_iter()
        .map(|difference| {
            if difference.kind.fails(expect.strict_column_order) {
                verdict = Verdict::Failed;
                format!("{difference} (snapshot -> live)")
            } else {
                if verdict == Verdict::Passed {
                    verdict = Verdict::Warning;
                }
                format!("warning: {difference} (snapshot -> live)")
            }
        })
        .collect();
    Ok(Check::new(SNAPSHOT_CHECK, verdict, details))
}
