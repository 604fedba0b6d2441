//! What the trace found: each statement's locks (with what they block), rewrites, index builds,
//! scans and rows, and the work it did over whole tables while writes were blocked.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

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
    pub(super) fn from_pg(mode: &str) -> Option<LockMode> {
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
