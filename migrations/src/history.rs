//! The database's record of what ran: refinery's own table plus the engine's run states.
//!
//! `refinery_schema_history` is the truth of "applied", so refinery's runner and this engine agree.
//! `bomizzel_migration_state` adds what refinery has no column for: durations, and runs outside a
//! transaction that failed or never finished (refinery has no row for those).

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::GenericClient;

use crate::model::{Direction, Migration, Version};

pub const REFINERY_TABLE: &str = "refinery_schema_history";
pub const STATE_TABLE: &str = "bomizzel_migration_state";
pub const BACKFILL_TABLE: &str = "bomizzel_backfill_progress";

/// refinery's DDL for its table, verbatim, so either tool may create it first.
const CREATE_REFINERY_TABLE: &str = "CREATE TABLE IF NOT EXISTS refinery_schema_history(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));";

const CREATE_STATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS bomizzel_migration_state (
    version int4 PRIMARY KEY,
    name text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('up', 'down')),
    state text NOT NULL CHECK (state IN ('running', 'failed', 'applied')),
    started_at timestamptz NOT NULL,
    duration_ms bigint,
    error text,
    invalid_indexes_before text[] NOT NULL DEFAULT '{}',
    applied_by text NOT NULL,
    backend_pid int4,
    backend_start timestamptz
);
COMMENT ON TABLE bomizzel_migration_state IS
    'Run states kept by cargo xtask beside refinery_schema_history: durations, and failed or unfinished runs outside a transaction.';
CREATE TABLE IF NOT EXISTS bomizzel_backfill_progress (
    version int4 NOT NULL,
    direction text NOT NULL CHECK (direction IN ('up', 'down')),
    table_name text NOT NULL,
    last_key bigint,
    stop_key bigint,
    rows_done bigint NOT NULL DEFAULT 0,
    batches integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (version, direction)
);
COMMENT ON TABLE bomizzel_backfill_progress IS
    'Where each batched data migration is: the last key done, committed with each batch, so a killed run resumes there.';";

/// The server backend that runs a script outside a transaction, recorded with its `running` row
/// (what the recovery of a dead runner looks for), for state tables made before these columns existed. Checked first,
/// so the `ALTER TABLE` (and its exclusive lock) happens once, not on every run.
const ADD_BACKEND_COLUMNS: &str = "DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute
                   WHERE attrelid = 'bomizzel_migration_state'::regclass AND attname = 'backend_pid') THEN
        ALTER TABLE bomizzel_migration_state ADD COLUMN backend_pid int4, ADD COLUMN backend_start timestamptz;
    END IF;
END $$;";

/// A row of refinery's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    pub version: Version,
    pub name: String,
    /// RFC 3339, as refinery writes it.
    pub applied_on: String,
    pub checksum: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Failed,
    Applied,
}

impl RunState {
    fn parse(text: &str) -> RunState {
        match text {
            "running" => RunState::Running,
            "failed" => RunState::Failed,
            _ => RunState::Applied,
        }
    }
}

/// A row of the engine's state table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    pub version: Version,
    pub name: String,
    pub direction: Direction,
    pub state: RunState,
    pub started_at: String,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub invalid_indexes_before: Vec<String>,
    pub applied_by: String,
}

/// Both tables, keyed by version.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub applied: BTreeMap<Version, AppliedRow>,
    pub states: BTreeMap<Version, StateRow>,
}

impl History {
    pub fn newest_applied(&self) -> Option<Version> {
        self.applied.keys().next_back().copied()
    }

    /// A run that did not end in `applied`: failed, or still marked running.
    pub fn unfinished(&self, version: Version) -> Option<&StateRow> {
        self.states
            .get(&version)
            .filter(|row| row.state != RunState::Applied)
    }
}

/// Creates both tables when missing. Run under the migration lock, so runners never race here.
pub fn ensure_tables(client: &mut impl GenericClient) -> Result<(), postgres::Error> {
    client.batch_execute(CREATE_REFINERY_TABLE)?;
    client.batch_execute(CREATE_STATE_TABLE)?;
    client.batch_execute(ADD_BACKEND_COLUMNS)
}

/// Reads the history; a database never migrated has an empty one (nothing is created here, so
/// `status` stays read-only).
pub fn read(client: &mut impl GenericClient) -> Result<History, postgres::Error> {
    let mut history = History::default();
    if table_exists(client, REFINERY_TABLE)? {
        for row in client.query(
            "SELECT version, coalesce(name, ''), coalesce(applied_on, ''), coalesce(checksum, '')
             FROM refinery_schema_history ORDER BY version",
            &[],
        )? {
            let applied = AppliedRow {
                version: row.get(0),
                name: row.get(1),
                applied_on: row.get(2),
                checksum: row.get(3),
            };
            history.applied.insert(applied.version, applied);
        }
    }
    if table_exists(client, STATE_TABLE)? {
        for row in client.query(
            "SELECT version, name, direction, state,
                    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    duration_ms, error, invalid_indexes_before, applied_by
             FROM bomizzel_migration_state ORDER BY version",
            &[],
        )? {
            let state: String = row.get(3);
            let state_row = StateRow {
                version: row.get(0),
                name: row.get(1),
                direction: direction_of(row.get(2)),
                state: RunState::parse(&state),
                started_at: row.get(4),
                duration_ms: row.get(5),
                error: row.get(6),
                invalid_indexes_before: row.get(7),
                applied_by: row.get(8),
            };
            history.states.insert(state_row.version, state_row);
        }
    }
    Ok(history)
}

/// A `direction` column's value (the tables' CHECK allows only `up` and `down`).
fn direction_of(text: &str) -> Direction {
    if text == "down" {
        Direction::Down
    } else {
        Direction::Up
    }
}

fn table_exists(client: &mut impl GenericClient, table: &str) -> Result<bool, postgres::Error> {
    let row = client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?;
    Ok(row.get(0))
}

/// Invalid indexes (left by a failed `CREATE INDEX CONCURRENTLY`), as qualified names.
pub fn invalid_indexes(client: &mut impl GenericClient) -> Result<Vec<String>, postgres::Error> {
    Ok(client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT i.indisvalid
             ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Drops an index (a qualified, quoted name as [`invalid_indexes`] gives) without blocking writes.
pub fn drop_index_concurrently(
    client: &mut impl GenericClient,
    index: &str,
) -> Result<(), postgres::Error> {
    client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"))
}

/// Where one batched data migration stands in one direction, from `bomizzel_backfill_progress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    pub version: Version,
    /// From the state table or refinery's, empty when neither knows the version any more.
    pub name: String,
    pub direction: Direction,
    pub table: String,
    pub rows: i64,
    pub batches: i32,
    /// The last key done; `None` before the first batch.
    pub last_key: Option<i64>,
    /// The largest key when the run started: batches stop there.
    pub stop_key: Option<i64>,
    pub started_at: String,
    pub updated_at: String,
    /// `None` while the run is unfinished (running, or stopped to be resumed).
    pub finished_at: Option<String>,
}

/// Every batched data migration's progress, by version and direction; none on a database where
/// no batched migration has run (nothing is created here).
pub fn backfills(client: &mut impl GenericClient) -> Result<Vec<Backfill>, postgres::Error> {
    if !table_exists(client, BACKFILL_TABLE)? {
        return Ok(Vec::new());
    }
    let rows = client.query(
        "SELECT p.version, coalesce(s.name, r.name, ''), p.direction, p.table_name,
                p.rows_done, p.batches, p.last_key, p.stop_key,
                to_char(p.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                to_char(p.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM bomizzel_backfill_progress p
         LEFT JOIN bomizzel_migration_state s ON s.version = p.version
         LEFT JOIN refinery_schema_history r ON r.version = p.version
         ORDER BY p.version, p.direction",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|row| Backfill {
            version: row.get(0),
            name: row.get(1),
            direction: direction_of(row.get(2)),
            table: row.get(3),
            rows: row.get(4),
            batches: row.get(5),
            last_key: row.get(6),
            stop_key: row.get(7),
            started_at: row.get(8),
            updated_at: row.get(9),
            finished_at: row.get(10),
        })
        .collect())
}

/// The queries that tell whether a database's schema is ready for a build, run in this order:
/// the backend's readiness. Plain text rather than checked macros: the tables may not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct ReadinessQueries {
    /// Whether refinery's table and the state table exist: two booleans.
    pub tables_exist: &'static str,
    /// The newest applied version (NULL when none), once refinery's table exists.
    pub newest_version: &'static str,
    /// The first migration whose run failed or never finished, as `V0003__name is failed`, once
    /// the state table exists.
    pub first_unfinished: &'static str,
}

pub const READINESS: ReadinessQueries = ReadinessQueries {
    tables_exist: "SELECT to_regclass('refinery_schema_history') IS NOT NULL,
                to_regclass('bomizzel_migration_state') IS NOT NULL",
    newest_version: "SELECT max(version) FROM refinery_schema_history",
    first_unfinished: "SELECT format('V%s__%s is %s', lpad(version::text, 4, '0'), name, state)
             FROM bomizzel_migration_state WHERE state <> 'applied' ORDER BY version LIMIT 1",
};

/// Writes the history rows of a finished script, inside the caller's transaction. `duration` is
/// `None` when the script's end was not seen (a run settled after its runner died).
pub(crate) fn record_finished(
    client: &mut impl GenericClient,
    migration: &Migration,
    direction: Direction,
    duration: Option<Duration>,
    applied_by: &str,
) -> Result<(), postgres::Error> {
    match direction {
        Direction::Up => {
            client.execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                 VALUES ($1, $2,
                         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                         $3)",
                &[
                    &migration.version,
                    &migration.name,
                    &migration.checksum.to_string(),
                ],
            )?;
            client.execute(
                "INSERT INTO bomizzel_migration_state
                     (version, name, direction, state, started_at, duration_ms, applied_by)
                 VALUES ($1, $2, 'up', 'applied', now(), $3, $4)
                 ON CONFLICT (version) DO UPDATE SET direction = 'up', state = 'applied',
                     duration_ms = $3, error = NULL, applied_by = $4",
                &[
                    &migration.version,
                    &migration.name,
                    &duration.map(millis),
                    &applied_by,
                ],
            )?;
        }
        Direction::Down => {
            client.execute(
                "DELETE FROM refinery_schema_history WHERE version = $1",
                &[&migration.version],
            )?;
            client.execute(
                "DELETE FROM bomizzel_migration_state WHERE version = $1",
                &[&migration.version],
            )?;
        }
    }
    Ok(())
}

/// Commits a `running` state row before a script outside a transaction starts, so a crash
/// mid-script still shows up as unfinished, with the backend that runs it: a dead runner's
/// statement may go on in the server.
pub(crate) fn record_running(
    client: &mut impl GenericClient,
    migration: &Migration,
    direction: Direction,
    invalid_indexes_before: &[String],
    applied_by: &str,
) -> Result<(), postgres::Error> {
    client
        .execute(
            "INSERT INTO bomizzel_migration_state
                 (version, name, direction, state, started_at, invalid_indexes_before, applied_by,
                  backend_pid, backend_start)
             VALUES ($1, $2, $3, 'running', now(), $4, $5, pg_backend_pid(),
                     (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()))
             ON CONFLICT (version) DO UPDATE SET direction = $3, state = 'running',
                 started_at = now(), duration_ms = NULL, error = NULL,
                 invalid_indexes_before = $4, applied_by = $5,
                 backend_pid = excluded.backend_pid, backend_start = excluded.backend_start",
            &[
                &migration.version,
                &migration.name,
                &direction.as_str(),
                &invalid_indexes_before,
                &applied_by,
            ],
        )
        .map(|_| ())
}

/// Marks the `running` row of a script outside a transaction as failed, with its error.
pub(crate) fn record_failed(
    client: &mut impl GenericClient,
    version: Version,
    error: &str,
    duration: Duration,
) -> Result<(), postgres::Error> {
    client
        .execute(
            "UPDATE bomizzel_migration_state SET state = 'failed', error = $2,
                 duration_ms = $3 WHERE version = $1",
            &[&version, &error, &millis(duration)],
        )
        .map(|_| ())
}

/// The INVALID indexes that existed before the last run of `version` began, when that run
/// failed or never finished; `None` when its last run ended applied (or it never ran).
pub(crate) fn unfinished_run_invalid_before(
    client: &mut impl GenericClient,
    version: Version,
) -> Result<Option<Vec<String>>, postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT invalid_indexes_before FROM bomizzel_migration_state
             WHERE version = $1 AND state <> 'applied'",
            &[&version],
        )?
        .map(|row| row.get(0)))
}

/// A duration as the history tables and PostgreSQL's time settings take it: whole milliseconds.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
