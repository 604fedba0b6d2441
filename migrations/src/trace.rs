//! The trace: what PostgreSQL itself says a migration does to the objects that existed before it.
//!
//! On a scratch database, the history is applied, the tables a migration mentions get generated
//! rows (the round-trip's generator), and then the migration runs one statement at a time in its
//! own transaction. After each statement one catalog query reads, for every relation that existed
//! before the migration: the locks this backend holds on it (`pg_locks`), whether its storage was
//! replaced (`pg_class.relfilenode`: a rewrite), whether it was scanned and how many rows were
//! changed (the transaction's `pg_stat_get_xact_*` counters), and which indexes appeared on it.
//! Comparing with the reading before the statement attributes each effect to one statement.
//!
//! Locks are held to the end of the transaction, so a statement is judged under every lock the
//! migration holds by then: `ALTER TABLE t ADD COLUMN c int; UPDATE t SET c = 1;` updates the
//! whole table under the first statement's ACCESS EXCLUSIVE lock, which is what production sees.
//!
//! A statement PostgreSQL refuses inside a transaction block (`CREATE INDEX CONCURRENTLY`,
//! `VACUUM`) runs alone: its locks are gone when it returns, so it is reported by what it built or
//! rewrote. Batched data migrations are applied, not traced: they commit in short batches by
//! design.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, GenericClient};

use crate::model::Script;
use crate::roundtrip::{execute, mentioned_names};
use crate::schema::data::{fill_tables_with, Values, ROWS_PER_TABLE};

/// The oldest server whose catalogs and counters the trace reads as it expects (fast defaults and
/// the statistics functions it calls).
pub const MIN_SERVER_VERSION: i32 = 110_000;

/// A table-level lock mode, weakest first (PostgreSQL's own order of conflicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

/// What a lock mode stops other sessions from doing while it is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    /// Plain `SELECT`s.
    pub reads: bool,
    /// `INSERT`, `UPDATE`, `DELETE`.
    pub writes: bool,
    /// Schema changes, `VACUUM`, index builds.
    pub ddl: bool,
}

impl LockMode {
    fn from_pg(mode: &str) -> Option<LockMode> {
        Some(match mode {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// PostgreSQL's conflict table, read for the three kinds of work an application does.
    pub fn blocks(self) -> Blocks {
        Blocks {
            reads: self == LockMode::AccessExclusive,
            writes: self >= LockMode::Share,
            ddl: self >= LockMode::RowExclusive,
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Blocks {
    /// `reads and writes`, `writes`, `DDL`, or `nothing`, for messages.
    pub fn describe(self) -> &'static str {
        match (self.reads, self.writes, self.ddl) {
            (true, _, _) => "reads and writes",
            (false, true, _) => "writes",
            (false, false, true) => "schema changes",
            (false, false, false) => "nothing",
        }
    }
}

/// One statement of a migration to trace: its byte range in the script, and what the caller
/// knows of it from the parse tree.
#[derive(Debug, Clone)]
pub struct StatementToTrace {
    pub range: std::ops::Range<usize>,
    /// Changes rows (`UPDATE`, `DELETE`, `INSERT ... SELECT`, `MERGE`): traced with sequential
    /// scans discouraged, so a scan means no index can serve its condition.
    pub data_change: bool,
    /// Written `CONCURRENTLY`: when it must run alone, its (unreadable) lock is the one that
    /// lets reads and writes go on.
    pub concurrently: bool,
}

/// A script of the history: applied as it is, or traced statement by statement.
pub struct ScriptToTrace<'a> {
    pub script: &'a Script,
    /// `None`: applied only (history before the migrations being judged).
    pub statements: Option<Vec<StatementToTrace>>,
}

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Generated rows per table the migration mentions, added before it runs (at least the
    /// round-trip's two).
    pub rows_per_table: usize,
    /// Freeze the generated rows before the migration, so its durations are those of old rows
    /// (for time-per-row estimates).
    pub freeze: bool,
}

/// A lock the migration's backend holds after a statement, on a relation that existed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// `schema.name` of the table, or of the index's table for a lock on an index.
    pub table: String,
    /// The index's name when the lock is on an index.
    pub index: Option<String>,
    pub mode: LockMode,
    /// Taken by this statement (else held since an earlier one).
    pub new: bool,
}

/// What one statement did to the relations that existed before its migration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatementTrace {
    /// The strongest mode held on each relation after the statement, table locks first.
    pub locks: Vec<HeldLock>,
    /// Tables and indexes whose storage the statement replaced (`schema.name`).
    pub rewritten: Vec<String>,
    /// Indexes built on pre-existing tables: (index, table).
    pub built: Vec<(String, String)>,
    /// Tables read in full (sequential scans).
    pub scanned: Vec<String>,
    /// Indexes of pre-existing tables the statement searched: (index, table, unique).
    pub index_scans: Vec<(String, String, bool)>,
    /// Rows inserted, updated or deleted in pre-existing tables, per table.
    pub rows_changed: BTreeMap<String, u64>,
    /// Rows inserted, updated or deleted in any table, the migration's new ones included.
    pub rows_written: u64,
    /// Rows read from pre-existing tables, by sequential and index scans, per table.
    pub rows_read: BTreeMap<String, u64>,
    /// Rows in each pre-existing table it read, changed or worked on, before the migration ran.
    pub table_rows: BTreeMap<String, u64>,
    pub duration: Duration,
    /// Ran outside a transaction block: its locks were released before they could be read.
    pub ran_alone: bool,
    /// Ran alone and written `CONCURRENTLY`: reads and writes went on beside it.
    pub concurrently: bool,
}

/// Work over a whole pre-existing table done while other sessions' writes are blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingWork {
    pub table: String,
    /// `None` when the statement ran alone and its lock could not be read.
    pub mode: Option<LockMode>,
    /// `rewrite`, `scan`, `index build`, in that order.
    pub work: Vec<&'static str>,
}

impl StatementTrace {
    /// The strongest lock held on `table` (its own or one of its indexes') after the statement.
    pub fn table_lock(&self, table: &str) -> Option<LockMode> {
        self.locks
            .iter()
            .filter(|lock| lock.table == table && lock.index.is_none())
            .map(|lock| lock.mode)
            .max()
    }

    /// The strongest lock of the statement, on any pre-existing table.
    pub fn strongest_lock(&self) -> Option<&HeldLock> {
        self.locks
            .iter()
            .filter(|lock| lock.index.is_none())
            .max_by_key(|lock| lock.mode)
    }

    /// Every table rewritten, scanned or indexed under a lock that blocks writes (or, for a
    /// statement that ran alone, under a lock nobody could read).
    pub fn blocking_work(&self) -> Vec<BlockingWork> {
        let mut work: BTreeMap<&str, Vec<&'static str>> = BTreeMap::new();
        let index_tables: HashMap<&str, &str> = self
            .locks
            .iter()
            .filter_map(|lock| Some((lock.index.as_deref()?, lock.table.as_str())))
            .collect();
        for name in &self.rewritten {
            let table = index_tables.get(name.as_str()).copied().unwrap_or(name);
            let kind = if table == name {
                "rewrite"
            } else {
                "index build"
            };
            work.entry(table).or_default().push(kind);
        }
        // A statement that ran alone may have scanned under a lock that lets writes go on
        // (VACUUM); only storage it replaced or built proves a strong one.
        if !self.ran_alone {
            for table in &self.scanned {
                work.entry(table).or_default().push("scan");
            }
        }
        for (_, table) in &self.built {
            work.entry(table).or_default().push("index build");
        }
        work.into_iter()
            .filter_map(|(table, mut kinds)| {
                kinds.sort_unstable_by_key(|kind| match *kind {
                    "rewrite" => 0,
                    "scan" => 1,
                    _ => 2,
                });
                kinds.dedup();
                let mode = self.table_lock(table);
                let blocking = match mode {
                    Some(mode) => mode.blocks().writes,
                    None => self.ran_alone && !self.concurrently,
                };
                blocking.then(|| BlockingWork {
                    table: table.to_owned(),
                    mode,
                    work: kinds,
                })
            })
            .collect()
    }

    /// Rows changed in all pre-existing tables together.
    pub fn rows(&self) -> u64 {
        self.rows_changed.values().sum()
    }
}

/// The trace of one migration's script.
#[derive(Debug, Clone, Default)]
pub struct ScriptTrace {
    /// One per statement that ran, in order: all of them unless one failed.
    pub statements: Vec<StatementTrace>,
    /// The statement (index) PostgreSQL refused, and why: the script's changes were rolled back.
    pub failure: Option<(usize, String)>,
    /// Tables the generator could not fill.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("the trace needs PostgreSQL 11 or newer; this server is {0}")]
    ServerTooOld(String),
    #[error("{0}")]
    Database(#[from] postgres::Error),
}

/// Applies or traces `scripts` in order on `client`, a scratch database nobody else uses.
/// Returns one trace per script that had statements to trace, in order.
pub fn run(
    client: &mut Client,
    scripts: &[ScriptToTrace<'_>],
    settings: &Settings,
) -> Result<Vec<ScriptTrace>, TraceError> {
    let version: String = client.query_one("SHOW server_version_num", &[])?.get(0);
    if version.parse::<i32>().unwrap_or(0) < MIN_SERVER_VERSION {
        let shown: String = client.query_one("SHOW server_version", &[])?.get(0);
        return Err(TraceError::ServerTooOld(shown));
    }
    // A scratch database: its commits need not wait for the disk, and nothing else takes its
    // locks, so a wait can only be a bug in the migration (a deadlock with itself).
    // JIT would compile the plans that discouraged sequential scans make look expensive, and
    // its time would be taken for the statement's.
    client
        .batch_execute("SET synchronous_commit = off; SET lock_timeout = '30s'; SET jit = off")?;
    let observe = client.prepare(OBSERVE)?;
    let mut traces = Vec::new();
    for to_trace in scripts {
        match &to_trace.statements {
            None => {
                // History the judged migrations stand on. A script that fails here fails in the
                // real history too; the scripts after it meet the schema without it.
                if let Err(error) = apply(client, to_trace.script) {
                    if error.is_closed() {
                        return Err(error.into());
                    }
                }
            }
            Some(statements) => traces.push(trace_script(
                client,
                &observe,
                to_trace.script,
                statements,
                settings,
            )?),
        }
    }
    Ok(traces)
}

fn apply(client: &mut Client, script: &Script) -> Result<(), postgres::Error> {
    if script.directives.no_transaction || script.directives.batched.is_some() {
        return execute(client, script);
    }
    let mut transaction = client.transaction()?;
    execute(&mut transaction, script)?;
    transaction.commit()
}

fn trace_script(
    client: &mut Client,
    observe: &postgres::Statement,
    script: &Script,
    statements: &[StatementToTrace],
    settings: &Settings,
) -> Result<ScriptTrace, TraceError> {
    let mut trace = ScriptTrace::default();
    let names = mentioned_names(&[&script.sql]);
    let mut fill = client.transaction()?;
    trace.warnings = fill_tables_with(
        &mut fill,
        &names,
        settings.rows_per_table.max(ROWS_PER_TABLE),
        Values::Every,
    )
    .warnings();
    fill.commit()?;
    if script.directives.batched.is_some() {
        apply(client, script)?;
        return Ok(trace);
    }
    let relations = Relations::read(client)?;
    // Counted before the migration starts: a count between statements would read the tables
    // inside the traced transaction and show up as the next statement's scan.
    if settings.freeze {
        // Rows just written cost their first reader hint bits and WAL that a production table's
        // old rows do not: frozen, they cost what they would there.
        client.batch_execute("VACUUM (FREEZE)")?;
    }
    let table_rows = relations.count_rows(client)?;
    let tracer = Tracer {
        relations,
        observe,
        table_rows,
    };
    let outcome = if script.directives.no_transaction {
        tracer.each_alone(client, script, statements, &mut trace)
    } else {
        tracer.in_one_transaction(client, script, statements, &mut trace)
    };
    match outcome {
        Ok(()) => Ok(trace),
        Err(error) if error.is_closed() => Err(error.into()),
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK");
            trace.failure = Some((trace.statements.len(), sql_error_message(&error)));
            apply_after_failure(client, script, &names, &mut trace.warnings)?;
            Ok(trace)
        }
    }
}

/// A traced script PostgreSQL refused, most often over a generated row (a NULL where it sets NOT
/// NULL, a duplicate where it adds UNIQUE): the scripts after it need its schema, so it is
/// applied again as it is, and, if the generated rows still stand in its way, once more after
/// emptying the tables it names.
fn apply_after_failure(
    client: &mut Client,
    script: &Script,
    names: &[String],
    warnings: &mut Vec<String>,
) -> Result<(), TraceError> {
    let Err(first) = apply(client, script) else {
        return Ok(());
    };
    if first.is_closed() {
        return Err(first.into());
    }
    let tables: Vec<String> = client
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND c.relname = ANY ($1) AND pg_table_is_visible(c.oid)
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[&names],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !tables.is_empty() {
        if let Err(error) = client.batch_execute(&format!("TRUNCATE {} CASCADE", tables.join(", ")))
        {
            if error.is_closed() {
                return Err(error.into());
            }
            warnings.push(format!(
                "not applied, so the migrations after it meet the schema without it: {}",
                sql_error_message(&first)
            ));
            return Ok(());
        }
    }
    match apply(client, script) {
        Ok(()) => warnings.push(format!(
            "applied without its generated rows after the trace stopped (emptied {})",
            tables.join(", ")
        )),
        Err(error) if error.is_closed() => return Err(error.into()),
        Err(error) => warnings.push(format!(
            "not applied, so the migrations after it meet the schema without it: {}",
            sql_error_message(&error)
        )),
    }
    Ok(())
}

/// Runs one script's statements and reads what each did.
struct Tracer<'a> {
    relations: Relations,
    observe: &'a postgres::Statement,
    /// Rows per pre-existing table before the migration.
    table_rows: BTreeMap<String, u64>,
}

impl Tracer<'_> {
    fn in_one_transaction(
        &self,
        client: &mut Client,
        script: &Script,
        statements: &[StatementToTrace],
        trace: &mut ScriptTrace,
    ) -> Result<(), postgres::Error> {
        client.batch_execute("BEGIN")?;
        let mut before = self.relations.observe(client, self.observe)?;
        for statement in statements {
            let sql = &script.sql[statement.range.clone()];
            // The newline ends a trailing `--` comment.
            let batch = if statement.data_change {
                // Bitmap scans count as sequential ones on the table: plain index scans keep a
                // key lookup distinguishable from a full read.
                format!(
                    "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; {sql}\n; \
                     SET LOCAL enable_seqscan = on; SET LOCAL enable_bitmapscan = on"
                )
            } else {
                format!("{sql}\n")
            };
            let started = Instant::now();
            client.batch_execute(&batch)?;
            let duration = started.elapsed();
            let after = self.relations.observe(client, self.observe)?;
            trace
                .statements
                .push(self.compare(&before, &after, duration, false));
            before = after;
        }
        client.batch_execute("COMMIT")
    }

    /// A no-transaction script: each statement in a transaction block of its own when PostgreSQL
    /// allows it (so its locks can be read before they go), else alone.
    fn each_alone(
        &self,
        client: &mut Client,
        script: &Script,
        statements: &[StatementToTrace],
        trace: &mut ScriptTrace,
    ) -> Result<(), postgres::Error> {
        for statement in statements {
            let sql = format!("{}\n", &script.sql[statement.range.clone()]);
            client.batch_execute("BEGIN")?;
            let before = self.relations.observe(client, self.observe)?;
            let started = Instant::now();
            let ran_alone = match client.batch_execute(&sql) {
                Ok(()) => false,
                // Refused in a transaction block, or commits by itself (a DO block with COMMIT).
                Err(error)
                    if error.code() == Some(&SqlState::ACTIVE_SQL_TRANSACTION)
                        || error.code() == Some(&SqlState::INVALID_TRANSACTION_TERMINATION) =>
                {
                    true
                }
                Err(error) => return Err(error),
            };
            let (before, duration) = if ran_alone {
                client.batch_execute("ROLLBACK")?;
                let before = self.relations.observe(client, self.observe)?;
                let started = Instant::now();
                client.batch_execute(&sql)?;
                (before, started.elapsed())
            } else {
                (before, started.elapsed())
            };
            let after = self.relations.observe(client, self.observe)?;
            let mut statement_trace = self.compare(&before, &after, duration, ran_alone);
            statement_trace.concurrently = ran_alone && statement.concurrently;
            trace.statements.push(statement_trace);
            if !ran_alone {
                client.batch_execute("COMMIT")?;
            }
        }
        Ok(())
    }

    fn compare(
        &self,
        before: &Observation,
        after: &Observation,
        duration: Duration,
        ran_alone: bool,
    ) -> StatementTrace {
        let (mut trace, touched) = self.relations.compare(before, after);
        trace.duration = duration;
        trace.ran_alone = ran_alone;
        // Every table it worked on or locked, so a lookup that matched no generated row still
        // says how many rows it chose from.
        let locked: Vec<String> = trace.locks.iter().map(|lock| lock.table.clone()).collect();
        let tables = touched
            .into_iter()
            .map(|oid| self.relations.name(oid).to_owned())
            .chain(locked);
        for table in tables {
            if let Some(rows) = self.table_rows.get(&table) {
                trace.table_rows.insert(table, *rows);
            }
        }
        trace
    }
}

fn sql_error_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}

/// Tables, materialized views and indexes that existed before the migration.
struct Relations {
    /// oid -> (`schema.name`, the table's oid for an index, relkind).
    by_oid: HashMap<i64, Relation>,
    oids: Vec<i64>,
}

struct Relation {
    name: String,
    /// The table of an index.
    table: Option<i64>,
    is_table: bool,
    unique: bool,
    /// Its rows are on this server (not a foreign table's), so they can be counted.
    local: bool,
}

/// One reading of the pre-existing relations, and of indexes new on them.
struct Observation {
    relfilenodes: HashMap<i64, i64>,
    scans: HashMap<i64, i64>,
    changed: HashMap<i64, i64>,
    read: HashMap<i64, i64>,
    locks: HashMap<i64, LockMode>,
    /// Indexes new on pre-existing tables: (name, table, relfilenode).
    new_indexes: BTreeSet<(String, i64, i64)>,
    /// Rows inserted, updated or deleted so far in any table, new ones included.
    written_anywhere: i64,
}

/// The row of [`OBSERVE`] that counts the rows written in every table.
const WRITTEN_ANYWHERE: i64 = -1;

const RELATIONS: &str = "
    SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname), i.indrelid::int8,
           c.relkind IN ('r', 'p', 'm', 'f'), coalesce(i.indisunique, false), c.relkind <> 'f'
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'm', 'f', 'i', 'I')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'bomizzel_roundtrip')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// One round trip per statement: every pre-existing relation's storage, counters and locks,
/// then the indexes that are new on pre-existing tables.
const OBSERVE: &str = "
    WITH held AS MATERIALIZED (
        SELECT relation::int8 AS oid, array_agg(mode) AS modes
        FROM pg_locks
        WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
        GROUP BY relation
    )
    SELECT c.oid::int8, NULL::text, c.relfilenode::int8,
           pg_stat_get_xact_numscans(c.oid),
           pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid)
               + pg_stat_get_xact_tuples_deleted(c.oid),
           held.modes,
           pg_stat_get_xact_tuples_returned(c.oid)
    FROM pg_class c LEFT JOIN held ON held.oid = c.oid::int8
    WHERE c.oid::int8 = ANY ($1)
    UNION ALL
    SELECT i.indrelid::int8, format('%I.%I', n.nspname, c.relname), c.relfilenode::int8, NULL,
           NULL, NULL, NULL
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.indrelid::int8 = ANY ($1) AND NOT i.indexrelid::int8 = ANY ($1)
    UNION ALL
    SELECT -1, NULL, NULL, NULL,
           (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_all_tables)::int8,
           NULL, NULL";

impl Relations {
    fn read(client: &mut Client) -> Result<Relations, postgres::Error> {
        let mut by_oid = HashMap::new();
        for row in client.query(RELATIONS, &[])? {
            by_oid.insert(
                row.get::<_, i64>(0),
                Relation {
                    name: row.get(1),
                    table: row.get(2),
                    is_table: row.get(3),
                    unique: row.get(4),
                    local: row.get(5),
                },
            );
        }
        let oids = by_oid.keys().copied().collect();
        Ok(Relations { by_oid, oids })
    }

    /// Every pre-existing table's rows, in one round trip.
    fn count_rows(&self, client: &mut Client) -> Result<BTreeMap<String, u64>, postgres::Error> {
        let tables: Vec<&str> = self
            .by_oid
            .values()
            .filter(|relation| relation.is_table && relation.local)
            .map(|relation| relation.name.as_str())
            .collect();
        if tables.is_empty() {
            return Ok(BTreeMap::new());
        }
        let counts: Vec<String> = tables
            .iter()
            .enumerate()
            .map(|(index, table)| format!("SELECT {index}, count(*) FROM {table}"))
            .collect();
        let mut rows = BTreeMap::new();
        for row in client.query(&counts.join(" UNION ALL "), &[])? {
            let index: i32 = row.get(0);
            let count: i64 = row.get(1);
            if let Some(table) = usize::try_from(index)
                .ok()
                .and_then(|index| tables.get(index))
            {
                rows.insert((*table).to_owned(), u64::try_from(count).unwrap_or(0));
            }
        }
        Ok(rows)
    }

    fn observe(
        &self,
        client: &mut impl GenericClient,
        statement: &postgres::Statement,
    ) -> Result<Observation, postgres::Error> {
        let mut observation = Observation {
            relfilenodes: HashMap::new(),
            scans: HashMap::new(),
            changed: HashMap::new(),
            read: HashMap::new(),
            locks: HashMap::new(),
            new_indexes: BTreeSet::new(),
            written_anywhere: 0,
        };
        for row in client.query(statement, &[&self.oids])? {
            let oid: i64 = row.get(0);
            if oid == WRITTEN_ANYWHERE {
                observation.written_anywhere = row.get(4);
                continue;
            }
            if let Some(index) = row.get::<_, Option<String>>(1) {
                observation.new_indexes.insert((index, oid, row.get(2)));
                continue;
            }
            observation.relfilenodes.insert(oid, row.get(2));
            observation.scans.insert(oid, row.get(3));
            observation.changed.insert(oid, row.get(4));
            observation.read.insert(oid, row.get(6));
            let modes: Option<Vec<String>> = row.get(5);
            if let Some(mode) = modes
                .unwrap_or_default()
                .iter()
                .filter_map(|mode| LockMode::from_pg(mode))
                .max()
            {
                observation.locks.insert(oid, mode);
            }
        }
        Ok(observation)
    }

    fn name(&self, oid: i64) -> &str {
        self.by_oid.get(&oid).map_or("?", |relation| &relation.name)
    }

    /// What changed between two readings, and the tables it touched (by oid).
    fn compare(
        &self,
        before: &Observation,
        after: &Observation,
    ) -> (StatementTrace, BTreeSet<i64>) {
        let mut trace = StatementTrace {
            rows_written: u64::try_from(after.written_anywhere - before.written_anywhere)
                .unwrap_or(0),
            ..StatementTrace::default()
        };
        let mut oids: Vec<i64> = after.relfilenodes.keys().copied().collect();
        oids.sort_unstable();
        let mut touched = BTreeSet::new();
        for oid in oids {
            let Some(relation) = self.by_oid.get(&oid) else {
                continue;
            };
            let delta = |field: fn(&Observation) -> &HashMap<i64, i64>| {
                field(after).get(&oid).copied().unwrap_or(0)
                    - field(before).get(&oid).copied().unwrap_or(0)
            };
            // A relfilenode of 0 is a partitioned table's: it has no storage to rewrite.
            let node = after.relfilenodes[&oid];
            if node != 0
                && before
                    .relfilenodes
                    .get(&oid)
                    .is_some_and(|old| *old != node)
            {
                trace.rewritten.push(relation.name.clone());
                touched.insert(relation.table.unwrap_or(oid));
            }
            // Rows a sequential scan returned count on the table, entries an index scan read on
            // the index: both are rows of the table read.
            let read = delta(|observation| &observation.read);
            if read > 0 {
                let table = relation.table.unwrap_or(oid);
                touched.insert(table);
                *trace
                    .rows_read
                    .entry(self.name(table).to_owned())
                    .or_default() += u64::try_from(read).unwrap_or(0);
            }
            if let (Some(table), true) =
                (relation.table, delta(|observation| &observation.scans) > 0)
            {
                trace.index_scans.push((
                    relation.name.clone(),
                    self.name(table).to_owned(),
                    relation.unique,
                ));
            }
            if relation.is_table {
                if delta(|observation| &observation.scans) > 0 {
                    trace.scanned.push(relation.name.clone());
                    touched.insert(oid);
                }
                let changed = delta(|observation| &observation.changed);
                if changed > 0 {
                    trace
                        .rows_changed
                        .insert(relation.name.clone(), u64::try_from(changed).unwrap_or(0));
                    touched.insert(oid);
                }
            }
            if let Some(&mode) = after.locks.get(&oid) {
                trace.locks.push(HeldLock {
                    table: relation.table.map_or_else(
                        || relation.name.clone(),
                        |table| self.name(table).to_owned(),
                    ),
                    index: relation.table.map(|_| relation.name.clone()),
                    mode,
                    new: before.locks.get(&oid).is_none_or(|old| *old < mode),
                });
            }
        }
        // An index PostgreSQL re-creates around a type change it needs no rebuild for keeps
        // the old index's storage under a new oid: nothing was built.
        let kept: BTreeSet<i64> = before.relfilenodes.values().copied().collect();
        for (index, table, _) in after
            .new_indexes
            .difference(&before.new_indexes)
            .filter(|(_, _, node)| !kept.contains(node))
        {
            trace
                .built
                .push((index.clone(), self.name(*table).to_owned()));
            touched.insert(*table);
        }
        trace.locks.sort_by_key(|lock| lock.index.is_some());
        (trace, touched)
    }
}
