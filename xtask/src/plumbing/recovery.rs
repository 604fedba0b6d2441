//! Settling what a dead runner left unfinished, before `migrate`, `rollback` or `deploy-db`
//! plans: a statement still running on the server is waited for (or, when asked, stopped); then
//! a `CREATE INDEX CONCURRENTLY` migration is recorded as applied when PostgreSQL shows its index
//! finished and identical to the script's, or as not applied (its INVALID leftover dropped) so it
//! runs again. Anything the checks cannot decide stops the command and points at `repair`, which
//! uses the same checks ([`examine`]).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use migrations::history::{self, RunState, StateRow};
use migrations::model::{label, Script};
use migrations::recovery::{self, ExpectedIndex, Leftover, Settlement};
use migrations::{Direction, Migration, MigrationSet};
use pg_query::NodeEnum;
use postgres::Client;

use crate::linter::sql;
use crate::plumbing::journal::{Entry, Journal, Outcome, Settled, Subject};
use crate::plumbing::output::outln;

/// After a cancel, how long a dead runner's statement gets to end before it is terminated.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What the live schema says about a migration's up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// What it creates is there, exactly as the script makes it.
    Applied(String),
    /// It is not there; `leftover` is an INVALID index to drop before it runs again.
    NotApplied {
        what: String,
        leftover: Option<String>,
    },
    /// Something is there that is not what the script creates.
    Contradicts(String),
    /// What the script creates is not something these checks know.
    Unknown(String),
}

impl Evidence {
    pub fn describe(&self) -> &str {
        match self {
            Evidence::Applied(what)
            | Evidence::NotApplied { what, .. }
            | Evidence::Contradicts(what)
            | Evidence::Unknown(what) => what,
        }
    }

    /// Whether the schema shows `settlement` to be true.
    pub fn supports(&self, settlement: Settlement) -> bool {
        matches!(
            (self, settlement),
            (Evidence::Applied(_), Settlement::Applied)
                | (Evidence::NotApplied { .. }, Settlement::NotApplied)
        )
    }
}

/// Compares the live schema with what `migration`'s up creates.
pub fn examine(client: &mut Client, migration: &Migration) -> Result<Evidence> {
    let file = migration.up.file_name();
    let expected = match expected_index(&migration.up) {
        Ok(expected) => expected,
        Err(why) => {
            return Ok(Evidence::Unknown(format!(
                "what {file} creates cannot be checked: {why}"
            )))
        }
    };
    let leftover = recovery::inspect(client, &expected)
        .with_context(|| format!("comparing the live schema with {file}"))?;
    Ok(match leftover {
        Leftover::Absent => Evidence::NotApplied {
            what: format!("index {} does not exist", expected.name),
            leftover: None,
        },
        Leftover::Invalid { index } => Evidence::NotApplied {
            what: format!("index {index} is INVALID (its build was stopped half-way)"),
            leftover: Some(index),
        },
        Leftover::Matches { index, definition } => Evidence::Applied(format!(
            "index {index} is valid and is what {file} creates ({definition})"
        )),
        Leftover::Differs {
            index,
            live,
            expected,
        } => Evidence::Contradicts(format!(
            "index {index} exists but is not what {file} creates: it is `{live}`, the file makes `{expected}`"
        )),
    })
}

/// The index a script of one `CREATE INDEX [CONCURRENTLY] name ON table ...` creates, with that
/// statement rewritten by PostgreSQL's own parser and deparser for the scratch copy.
fn expected_index(script: &Script) -> Result<ExpectedIndex, String> {
    let statements = sql::parse_statements(&script.sql)
        .map_err(|error| format!("it does not parse: {error}"))?;
    let only_index = match statements.as_slice() {
        [statement] => match &statement.node {
            NodeEnum::IndexStmt(index) => Some(index),
            _ => None,
        },
        _ => None,
    };
    let Some(index) = only_index else {
        return Err("only a file of one CREATE INDEX statement is recognised".into());
    };
    let Some(relation) = &index.relation else {
        return Err("its CREATE INDEX names no table".into());
    };
    if index.idxname.is_empty() {
        return Err("its index has no name, so which index it made cannot be told".into());
    }
    let mut on_copy = index.clone();
    on_copy.concurrent = false;
    on_copy.if_not_exists = false;
    on_copy.table_space.clear();
    if let Some(copy) = on_copy.relation.as_mut() {
        copy.catalogname.clear();
        copy.schemaname = "pg_temp".into();
    }
    let on_scratch_copy = sql::deparse(NodeEnum::IndexStmt(on_copy))
        .ok_or("PostgreSQL's deparser cannot write it back")?;
    Ok(ExpectedIndex {
        schema: Some(relation.schemaname.clone()).filter(|schema| !schema.is_empty()),
        table: relation.relname.clone(),
        name: index.idxname.clone(),
        on_scratch_copy,
    })
}

/// What to do about a dead runner's statement that still runs on the server.
pub struct OrphanPolicy {
    pub wait: Duration,
    pub stop: bool,
}

/// Settles every run a dead runner left `running`. The caller holds the migration lock and
/// reads the history afterwards.
pub fn recover(
    client: &mut Client,
    set: &MigrationSet,
    journal: &mut Journal,
    policy: &OrphanPolicy,
    applied_by: &str,
) -> Result<()> {
    let context = "reading the migration history";
    let running: Vec<StateRow> = history::read(client)
        .context(context)?
        .states
        .into_values()
        .filter(|row| row.state == RunState::Running)
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    // A state table from before the runner recorded its backend gets the columns here.
    history::ensure_tables(client).context(context)?;
    for row in running {
        settle_orphan(client, &row, policy)?;
        let Some(migration) = set.get(row.version) else {
            continue;
        };
        let script = &migration.up;
        // A batched run resumes after its last batch; a rollback is finished by `rollback`.
        if row.direction != Direction::Up
            || !script.directives.no_transaction
            || script.directives.batched.is_some()
        {
            continue;
        }
        let file = script.file_name();
        let evidence = examine(client, migration)?;
        let settlement = match &evidence {
            Evidence::Applied(_) => Settlement::Applied,
            Evidence::NotApplied { leftover, .. } => {
                if let Some(index) = leftover {
                    history::drop_index_concurrently(client, index)
                        .with_context(|| format!("dropping {index}, left by {file}"))?;
                }
                Settlement::NotApplied
            }
            Evidence::Contradicts(why) | Evidence::Unknown(why) => bail!(
                "{file} did not finish: its runner ({}) stopped during the run it started at {}, and {why}; look at the schema, then record what happened with `cargo xtask repair {} --applied --reason TEXT` (or `--not-applied`)",
                row.applied_by,
                row.started_at,
                row.version
            ),
        };
        recovery::settle(client, migration, Direction::Up, settlement, applied_by)
            .with_context(|| format!("recording how {file} ended"))?;
        let subject = Subject::Migration {
            version: row.version,
            name: &row.name,
            direction: Direction::Up,
        };
        journal.record(&Entry {
            settled: Some(Settled {
                settlement,
                applied_by,
                reason: None,
                evidence: evidence.describe(),
            }),
            ..Entry::new(subject, Outcome::Recovered)
        })?;
        let consequence = match &evidence {
            Evidence::Applied(_) => "recorded as applied",
            Evidence::NotApplied {
                leftover: Some(_), ..
            } => "dropped it, it runs again",
            _ => "it runs again",
        };
        outln!(
            "{file}: its runner stopped before recording how it ended; {}: {consequence}",
            evidence.describe()
        );
    }
    Ok(())
}

/// Waits for (or stops) the statement of `row` still running on the server, if it is.
fn settle_orphan(client: &mut Client, row: &StateRow, policy: &OrphanPolicy) -> Result<()> {
    let context = "looking for the backend of a dead runner in pg_stat_activity";
    let Some(orphan) = recovery::orphan(client, row.version).context(context)? else {
        return Ok(());
    };
    let label = label(row.version, &row.name);
    if policy.stop {
        outln!("stopping {label}, still running on the server after its runner stopped: {orphan}");
        if !recovery::stop_orphan(client, row.version, CANCEL_GRACE).context(context)? {
            bail!(
                "{label} still runs on the server in pid {} after a cancel and a terminate",
                orphan.pid
            );
        }
        return Ok(());
    }
    eprintln!(
        "waiting up to {:?} for {label}, still running on the server after its runner stopped: {orphan}",
        policy.wait
    );
    if let Some(orphan) =
        recovery::wait_for_orphan(client, row.version, policy.wait).context(context)?
    {
        bail!(
            "{label} is still running on the server after its runner stopped ({orphan}); gave up after waiting {:?}: wait longer (--lock-wait), or stop it with --stop-orphaned-run",
            policy.wait
        );
    }
    Ok(())
}
