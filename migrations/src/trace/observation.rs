//! Reading the relations that existed before a migration, once per statement (one prepared
//! query: storage, counters and locks, and indexes new on them), and what changed between two
//! readings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postgres::{Client, GenericClient};

use crate::trace::report::{HeldLock, LockMode, StatementTrace};

/// Tables, materialized views and indexes that existed before the migration.
pub(super) struct Relations {
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

pub(super) struct Observation {
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
pub(super) const OBSERVE: &str = "
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
    pub(super) fn read(client: &mut Client) -> Result<Relations, postgres::Error> {
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
    pub(super) fn count_rows(
        &self,
        client: &mut Client,
    ) -> Result<BTreeMap<String, u64>, postgres::Error> {
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

    pub(super) fn observe(
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

    pub(super) fn name(&self, oid: i64) -> &str {
        self.by_oid.get(&oid).map_or("?", |relation| &relation.name)
    }

    /// What changed between two readings, and the tables it touched (by oid).
    pub(super) fn compare(
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
            if let Some(relation) = self.by_oid.get(&oid) {
                self.compare_relation(oid, relation, before, after, &mut trace, &mut touched);
            }
        }
        self.note_built_indexes(before, after, &mut trace, &mut touched);
        trace.locks.sort_by_key(|lock| lock.index.is_some());
        (trace, touched)
    }

    /// What one pre-existing relation shows between the readings: its storage replaced, its rows
    /// read, scanned or changed, its lock; the tables this touched go into `touched`.
    fn compare_relation(
        &self,
        oid: i64,
        relation: &Relation,
        before: &Observation,
        after: &Observation,
        trace: &mut StatementTrace,
        touched: &mut BTreeSet<i64>,
    ) {
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
        if let (Some(table), true) = (relation.table, delta(|observation| &observation.scans) > 0) {
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

    /// Indexes new on pre-existing tables since the first reading, their tables into `touched`.
    fn note_built_indexes(
        &self,
        before: &Observation,
        after: &Observation,
        trace: &mut StatementTrace,
        touched: &mut BTreeSet<i64>,
    ) {
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
    }
}
