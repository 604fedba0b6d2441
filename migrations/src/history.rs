//! The database's record of what ran: refinery's own table plus the engine's run states.
//!
//! `refinery_schema_history` is the truth of "applied", so refinery's runner and this engine agree.
//! `bomizzel_migration_state` adds what refinery has no column for: durations, and runs outside a
//! transaction that failed or never finished (refinery has no row for those).

use std::collections::BTreeMap;

use postgres::GenericClient;

use crate::model::{Direction, Version};

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
/// (see [`crate::recovery`]), for state tables made before these columns existed. Checked first,
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
            let direction: String = row.get(2);
            let state: String = row.get(3);
            let state_row = StateRow {
                version: row.get(0),
                name: row.get(1),
                direction: if direction == "down" {
                    Direction::Down
                } else {
                    Direction::Up
                },
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
