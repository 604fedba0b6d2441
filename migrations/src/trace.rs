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
//!
//! This file runs the scripts; `observation` reads the relations between statements, and
//! `report` holds what was found.

mod observation;
mod report;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::Client;

use crate::model::Script;
use crate::roundtrip::{execute, mentioned_names};
use crate::schema::data::{fill_tables_with, Values, ROWS_PER_TABLE};

use self::observation::{Observation, Relations, OBSERVE};
pub use self::report::{BlockingWork, Blocks, HeldLock, LockMode, ScriptTrace, StatementTrace};

/// The oldest server whose catalogs and counters the trace reads as it expects (fast defaults and
/// the statistics functions it calls).
pub const MIN_SERVER_VERSION: i32 = 110_000;

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
