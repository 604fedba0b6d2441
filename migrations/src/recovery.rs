//! What a runner that died in the middle of a script outside a transaction left behind, and
//! settling it: recording the migration as applied, or as not applied so it runs again.
//!
//! Killing the runner does not stop its statement: the server finishes a `CREATE INDEX
//! CONCURRENTLY` whose client is gone and notices only when it answers. So the runner records in
//! the `running` state row the pid and start time of the backend that runs the script. A pid
//! names one live backend and the start time tells a reused pid apart, so `pg_stat_activity`
//! says for certain whether that statement still runs ([`orphan`]); a backend whose start time
//! this role may not see counts as still running.
//!
//! Whether the statement took effect is asked of PostgreSQL, not guessed ([`inspect`]): the live
//! index against the one the same statement builds on an empty copy of its table in a
//! transaction that is rolled back.

use std::time::{Duration, Instant};

use postgres::{Client, GenericClient};

use crate::history::{millis, record_finished};
use crate::model::{Direction, Migration, Version};

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Waits of the scratch check: copying a table's columns takes a lock only `ALTER TABLE` and
/// the like conflict with, and traffic must not queue behind it.
const CHECK_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A server backend still running the script of a runner that is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub pid: i32,
    /// `active`, and what it waits for, if anything (`Lock: virtualxid`).
    pub activity: String,
    pub query_start: String,
    /// The start of the statement it runs, after the file's leading comments.
    pub query: String,
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({} since {}): {}",
            self.pid, self.activity, self.query_start, self.query
        )
    }
}

/// The backend still running the recorded `running` run of `version`, if it is still there.
pub fn orphan(
    client: &mut impl GenericClient,
    version: Version,
) -> Result<Option<Orphan>, postgres::Error> {
    let row = client.query_opt(
        "SELECT a.pid,
                coalesce(a.state, 'unknown state')
                    || coalesce(', waiting for ' || a.wait_event_type || ': ' || a.wait_event, ''),
                coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'unknown'),
                coalesce(left(regexp_replace(regexp_replace(a.query, '^(\\s*--[^\\n]*\\n)*\\s*', ''),
                                             '\\s+', ' ', 'g'), 80),
                         'not visible to this role')
         FROM bomizzel_migration_state s
         JOIN pg_stat_activity a ON a.pid = s.backend_pid
         WHERE s.version = $1 AND s.state = 'running' AND a.pid <> pg_backend_pid()
           AND (a.backend_start IS NULL OR a.backend_start = s.backend_start)",
        &[&version],
    )?;
    Ok(row.map(|row| Orphan {
        pid: row.get(0),
        activity: row.get(1),
        query_start: row.get(2),
        query: row.get(3),
    }))
}

/// Waits up to `wait` for the orphan of `version` to end; returns it if it is still there.
pub fn wait_for_orphan(
    client: &mut impl GenericClient,
    version: Version,
    wait: Duration,
) -> Result<Option<Orphan>, postgres::Error> {
    let started = Instant::now();
    loop {
        let orphan = orphan(client, version)?;
        if orphan.is_none() || started.elapsed() >= wait {
            return Ok(orphan);
        }
        std::thread::sleep(POLL_INTERVAL.min(wait.saturating_sub(started.elapsed())));
    }
}

/// Stops the orphan of `version`: a cancel first (its statement ends as if it had failed), then,
/// when it is still there after `grace`, a terminate. Returns whether it is gone.
pub fn stop_orphan(
    client: &mut impl GenericClient,
    version: Version,
    grace: Duration,
) -> Result<bool, postgres::Error> {
    for signal in ["pg_cancel_backend", "pg_terminate_backend"] {
        let Some(orphan) = orphan(client, version)? else {
            return Ok(true);
        };
        client.execute(&format!("SELECT {signal}($1)"), &[&orphan.pid])?;
        if wait_for_orphan(client, version, grace)?.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The one index a script creates, as the caller read it from the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedIndex {
    /// The table's schema when the script names one, else the table is found on `search_path`.
    pub schema: Option<String>,
    pub table: String,
    /// The index's name (it lives in its table's schema).
    pub name: String,
    /// The same statement without `CONCURRENTLY`, on `pg_temp.<table>`: built on an empty copy
    /// of the table to learn the definition the script gives the index.
    pub on_scratch_copy: String,
}

/// What the live database holds where the script puts its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// No such index (or no such table): the script did not take effect.
    Absent,
    /// An INVALID index by that name: the build was stopped half-way.
    Invalid { index: String },
    /// A valid index whose definition is the script's.
    Matches { index: String, definition: String },
    /// A valid index by that name that is not what the script creates.
    Differs {
        index: String,
        live: String,
        expected: String,
    },
}

/// Looks at the live index the script creates and compares it with the script's.
pub fn inspect(client: &mut Client, expected: &ExpectedIndex) -> Result<Leftover, postgres::Error> {
    let live = client.query_opt(
        "SELECT format('%I.%I', n.nspname, i.relname), x.indisvalid, x.indrelid = t.oid,
                pg_get_indexdef(i.oid), x.indisunique,
                format('CREATE TEMP TABLE %I (LIKE %I.%I)', t.relname, n.nspname, t.relname)
         FROM pg_class t
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_class i ON i.relnamespace = t.relnamespace AND i.relname = $3
         JOIN pg_index x ON x.indexrelid = i.oid
         WHERE t.oid = to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2)
                                        ELSE quote_ident($1) || '.' || quote_ident($2) END)",
        &[&expected.schema, &expected.table, &expected.name],
    )?;
    let Some(live) = live else {
        return Ok(Leftover::Absent);
    };
    let index: String = live.get(0);
    let (valid, on_table, definition, unique): (bool, bool, String, bool) =
        (live.get(1), live.get(2), live.get(3), live.get(4));
    if !valid {
        return Ok(Leftover::Invalid { index });
    }
    let copy_table: String = live.get(5);
    let mut transaction = client.transaction()?;
    transaction.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}; {copy_table}; {}",
        millis(CHECK_LOCK_TIMEOUT),
        expected.on_scratch_copy
    ))?;
    let scratch = transaction.query_one(
        "SELECT pg_get_indexdef(x.indexrelid), x.indisunique FROM pg_index x
         WHERE x.indexrelid = to_regclass('pg_temp.' || quote_ident($1))",
        &[&expected.name],
    )?;
    let (expected_definition, expected_unique): (String, bool) = (scratch.get(0), scratch.get(1));
    transaction.rollback()?;
    // The two differ in the table's schema (`ON pg_temp_3.t`); from `USING` on, PostgreSQL
    // renders method, keys, operator classes, options and predicate from the catalog.
    let shape = |definition: &str| {
        definition
            .split_once(" USING ")
            .map(|(_, shape)| shape.to_owned())
    };
    if on_table && unique == expected_unique && shape(&definition) == shape(&expected_definition) {
        Ok(Leftover::Matches { index, definition })
    } else {
        Ok(Leftover::Differs {
            index,
            live: definition,
            expected: expected_definition,
        })
    }
}

/// How an unfinished run is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The migration's up took effect and stays: it is applied.
    Applied,
    /// It did not (or its down did): it is not applied, and `migrate` runs it again.
    NotApplied,
}

impl Settlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Applied => "applied",
            Settlement::NotApplied => "not_applied",
        }
    }
}

/// Writes the history of the unfinished `direction` run of `migration` as `settlement` says, in
/// one transaction: refinery's row and the state row agree afterwards, as after a finished run.
pub fn settle(
    client: &mut Client,
    migration: &Migration,
    direction: Direction,
    settlement: Settlement,
    applied_by: &str,
) -> Result<(), postgres::Error> {
    let mut transaction = client.transaction()?;
    match (direction, settlement) {
        (Direction::Up, Settlement::Applied) | (Direction::Down, Settlement::NotApplied) => {
            record_finished(&mut transaction, migration, direction, None, applied_by)?;
        }
        (Direction::Up, Settlement::NotApplied) => {
            transaction.execute(
                "DELETE FROM bomizzel_migration_state WHERE version = $1",
                &[&migration.version],
            )?;
        }
        (Direction::Down, Settlement::Applied) => {
            transaction.execute(
                "UPDATE bomizzel_migration_state SET direction = 'up', state = 'applied',
                     error = NULL, applied_by = $2 WHERE version = $1",
                &[&migration.version, &applied_by],
            )?;
        }
    }
    transaction.commit()
}
