//! `deploy-db`'s expected lock durations: per traced statement, the lock it takes on a table that
//! already exists, what that blocks, the work done under it, and the table's size on the target.

use std::time::Duration;

use postgres::Client;

use crate::linter;
use crate::plumbing::pg_tools;

/// Per traced statement that locks a pre-existing table: its lock, what the lock blocks, the work
/// done under it, the table's size on the target and, for blocking work, the expected lock
/// duration (the trace's time per generated row times the target's row estimate). With
/// `blocking_only`, just the statements whose lock blocks writes while they work.
pub(super) fn lines(
    client: &mut Client,
    trace: &linter::trace::FileTrace,
    blocking_only: bool,
) -> Result<Vec<String>, postgres::Error> {
    let mut lines = Vec::new();
    for statement in &trace.statements {
        let Some(observed) = &statement.trace else {
            continue;
        };
        let blocking = observed.blocking_work();
        if blocking_only && blocking.is_empty() {
            continue;
        }
        let Some(lock) = blocking
            .first()
            .and_then(|work| work.mode.map(|mode| (work.table.clone(), mode)))
            .or_else(|| {
                observed
                    .strongest_lock()
                    .map(|lock| (lock.table.clone(), lock.mode))
            })
        else {
            continue;
        };
        let (table, mode) = lock;
        let work = blocking
            .iter()
            .find(|work| work.table == table)
            .map_or_else(|| "catalog only".to_owned(), |work| work.work.join(" and "));
        let row = client.query_one(
            "SELECT c.reltuples::int8, pg_total_relation_size(c.oid)
             FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid",
            &[&table],
        )?;
        let (target_rows, size): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        let mut line = format!(
            "line {} `{}`: {mode} on {table} (blocks {}), {work}",
            statement.line,
            statement.head,
            mode.blocks().describe()
        );
        match (target_rows, size) {
            (Some(rows), Some(size)) => {
                // A table never analysed says -1: its size is all there is to go on.
                let rows = u64::try_from(rows).ok();
                line.push_str(&format!(
                    "; on the target: {} rows, {}",
                    rows.map_or_else(|| "unknown".to_owned(), |rows| rows.to_string()),
                    pg_tools::human_size(u64::try_from(size).unwrap_or_default())
                ));
                let traced_rows = observed.table_rows.get(&table).copied().unwrap_or(0);
                if let (false, Some(rows), true) = (blocking.is_empty(), rows, traced_rows > 0) {
                    let per_row = observed.duration.as_secs_f64() / traced_rows as f64;
                    line.push_str(&format!(
                        "; expected lock about {} (trace: {:.1} ms for {traced_rows} rows)",
                        pg_tools::seconds(Duration::from_secs_f64(per_row * rows as f64)),
                        observed.duration.as_secs_f64() * 1000.0
                    ));
                }
            }
            _ => line.push_str("; not on the target yet (an earlier pending migration creates it)"),
        }
        lines.push(line);
    }
    Ok(lines)
}
