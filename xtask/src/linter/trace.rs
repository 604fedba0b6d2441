//! `lint --trace`: the verdict's lock, rewrite and scan part measured on PostgreSQL itself
//! (`migrations::trace`), then compared with the rules' findings statement by statement. A rule
//! the trace agrees with is confirmed; a lock or data rule whose work PostgreSQL did not do is
//! cleared; work no rule saw becomes a `traced-blocking-work` finding. Findings the trace cannot
//! measure (data loss, compatibility) stay the rules' alone.

use std::collections::{BTreeMap, BTreeSet};

use migrations::model::Directives;
use migrations::trace::{
    self as engine, LockMode, ScriptToTrace, ScriptTrace, Settings, StatementToTrace,
    StatementTrace,
};
use migrations::{DatabaseUrl, MigrationSet, ScratchDatabase, Version};
use pg_query::NodeEnum;

use super::finding::{Acknowledgement, Finding, Severity, Source};
use super::rule::{Class, Rule, TraceRole};
use super::sql::{self, Parsed, Statement};

/// A data change that changed more rows than this in one pre-existing table is large whatever
/// index it used: the generated tables hold a handful of rows, so more means "all that match".
const FEW_ROWS: u64 = 10;

/// One top-level statement of an up file, as the trace runs it and the report shows it.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    pub to_trace: StatementToTrace,
    pub line: usize,
    pub column: usize,
    /// The statement's first line, for the report.
    pub head: String,
}

/// What an up file gives the trace: its statements and the directives that acknowledge.
#[derive(Debug, Clone)]
pub struct Plan {
    pub version: Version,
    pub statements: Vec<PlannedStatement>,
    pub directives: Directives,
}

/// The trace of one file, for the reports.
#[derive(Debug, Clone)]
pub struct FileTrace {
    pub statements: Vec<TracedStatement>,
    /// `line N: message` of the statement PostgreSQL refused; the ones after it did not run.
    pub failure: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TracedStatement {
    pub line: usize,
    pub column: usize,
    pub head: String,
    /// `None`: it did not run (an earlier statement failed).
    pub trace: Option<StatementTrace>,
}

/// Why no trace could be made: the static verdict stands alone.
#[derive(Debug)]
pub struct Unavailable(pub String);

/// What the trace needs from a statement's parse tree.
pub fn to_trace(statement: &Statement) -> StatementToTrace {
    let data_change = match &statement.node {
        NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::MergeStmt(_)
        | NodeEnum::DoStmt(_)
        | NodeEnum::CallStmt(_)
        | NodeEnum::SelectStmt(_) => true,
        NodeEnum::InsertStmt(insert) => insert.select_stmt.as_deref().is_some_and(|select| {
            matches!(&select.node, Some(NodeEnum::SelectStmt(select)) if select.values_lists.is_empty())
        }),
        _ => false,
    };
    let concurrently = match &statement.node {
        NodeEnum::IndexStmt(index) => index.concurrent,
        NodeEnum::DropStmt(drop) => drop.concurrent,
        NodeEnum::RefreshMatViewStmt(refresh) => refresh.concurrent,
        NodeEnum::ReindexStmt(reindex) => sql::has_option(&reindex.params, "concurrently"),
        _ => false,
    };
    StatementToTrace {
        range: statement.start..statement.end,
        data_change,
        concurrently,
    }
}

/// The statements of a parsed up file, positioned by `position` (byte offset to line, column).
pub fn plan(
    version: Version,
    sql: &str,
    parsed: &Parsed,
    directives: &Directives,
    position: impl Fn(usize) -> (usize, usize),
) -> Plan {
    let statements = parsed
        .statements
        .iter()
        .map(|statement| {
            let (line, column) = position(statement.start);
            let head = sql[statement.start..statement.end]
                .lines()
                .next()
                .unwrap_or_default();
            let head = match head.char_indices().nth(80) {
                Some((cut, _)) => format!("{}...", &head[..cut]),
                None => head.to_owned(),
            };
            PlannedStatement {
                to_trace: to_trace(statement),
                line,
                column,
                head,
            }
        })
        .collect();
    Plan {
        version,
        statements,
        directives: directives.clone(),
    }
}

/// Applies `set` on a scratch database of `server`, tracing the migrations `plans` name.
/// A file that does not parse as a whole is applied, not traced.
pub fn run(
    server: &DatabaseUrl,
    set: &MigrationSet,
    plans: &[Plan],
    settings: &Settings,
) -> Result<BTreeMap<Version, ScriptTrace>, Unavailable> {
    let scratch = ScratchDatabase::create(server, "bomizzel_trace").map_err(|error| {
        Unavailable(format!(
            "could not create a scratch database on {}: {error}",
            server.redacted()
        ))
    })?;
    let mut client = scratch
        .url()
        .connect("bomizzel-trace")
        .map_err(|error| Unavailable(format!("could not connect: {error}")))?;
    let by_version: BTreeMap<Version, &Plan> =
        plans.iter().map(|plan| (plan.version, plan)).collect();
    let scripts: Vec<ScriptToTrace> = set
        .migrations
        .iter()
        .map(|migration| ScriptToTrace {
            script: &migration.up,
            statements: by_version.get(&migration.version).map(|plan| {
                plan.statements
                    .iter()
                    .map(|statement| statement.to_trace.clone())
                    .collect()
            }),
        })
        .collect();
    let traces = engine::run(&mut client, &scripts, settings).map_err(|error| {
        Unavailable(match error {
            engine::TraceError::ServerTooOld(_) => error.to_string(),
            engine::TraceError::Database(error) => format!(
                "the server failed: {}",
                error
                    .as_db_error()
                    .map_or_else(|| error.to_string(), |db| db.message().to_owned())
            ),
        })
    })?;
    let traced_versions = set
        .migrations
        .iter()
        .map(|migration| migration.version)
        .filter(|version| by_version.contains_key(version));
    Ok(traced_versions.zip(traces).collect())
}

/// The trace of one file, positioned for the report.
pub fn file_trace(plan: &Plan, trace: &ScriptTrace) -> FileTrace {
    FileTrace {
        statements: plan
            .statements
            .iter()
            .enumerate()
            .map(|(index, statement)| TracedStatement {
                line: statement.line,
                column: statement.column,
                head: statement.head.clone(),
                trace: trace.statements.get(index).cloned(),
            })
            .collect(),
        failure: trace.failure.as_ref().map(|(index, message)| {
            let line = plan
                .statements
                .get(*index)
                .map_or(0, |statement| statement.line);
            format!("line {line}: {message}")
        }),
        warnings: trace.warnings.clone(),
    }
}

/// Compares the rules' findings of one up file with its trace, statement by statement: each
/// finding gets its [`Source`], and work no rule saw is added as `traced-blocking-work`.
pub fn cross_check(findings: &mut Vec<Finding>, plan: &Plan, trace: &ScriptTrace) {
    for (index, statement_trace) in trace.statements.iter().enumerate() {
        let planned = &plan.statements[index];
        let blocking = describe_blocking_work(statement_trace);
        // Alone, a statement commits as it goes and its planner was not steered: its row
        // counts say nothing of one long transaction.
        let rows = if statement_trace.ran_alone {
            Rows::Unknown
        } else {
            judge_rows(statement_trace, planned.to_trace.data_change)
        };
        let data_change = planned.to_trace.data_change;
        let (mut lock_seen, mut rows_seen) = (false, false);
        for finding in findings
            .iter_mut()
            .filter(|finding| finding.statement == Some(index))
        {
            let role = finding.trace_role();
            let confirmed = match (role, &rows) {
                (TraceRole::Lock, _) => Some(!blocking.is_empty()),
                (TraceRole::Rows, Rows::Large(_)) => Some(true),
                (TraceRole::Rows, Rows::Bounded) => Some(false),
                (TraceRole::Rows, Rows::Unknown) => None,
                (TraceRole::Unknown, Rows::Large(_)) => Some(true),
                (TraceRole::Unknown, _) if !blocking.is_empty() => Some(true),
                (TraceRole::Unknown, Rows::Bounded) => Some(false),
                (TraceRole::Unknown, Rows::Unknown) => (!data_change).then_some(false),
                (TraceRole::Static, _) => {
                    let risk = matches!(finding.rule.class(), Class::Risky | Class::MultiStep);
                    (risk && !blocking.is_empty()).then_some(true)
                }
            };
            match confirmed {
                Some(true) => {
                    finding.source = Source::Confirmed;
                    // A confirmed finding already fails the statement; the trace line beside
                    // it shows the lock it ran under.
                    lock_seen = true;
                    rows_seen = true;
                }
                Some(false) => {
                    finding.source = Source::ClearedByTrace;
                    finding.severity = Severity::Warning;
                    finding.message.push_str(
                        " (cleared by the trace: PostgreSQL did no blocking work here and changed few rows)",
                    );
                }
                None => {}
            }
        }
        let mut unseen: Vec<String> = Vec::new();
        if !lock_seen {
            unseen.extend(blocking);
        }
        if let (false, Rows::Large(large)) = (rows_seen, rows) {
            unseen.extend(large);
        }
        if !unseen.is_empty() {
            findings.push(traced_finding(plan, index, &unseen));
        }
    }
    acknowledge_traced(findings, &plan.directives);
}

fn traced_finding(plan: &Plan, index: usize, work: &[String]) -> Finding {
    let statement = &plan.statements[index];
    let mut finding = Finding::at(
        Rule::TracedBlockingWork,
        (statement.line, statement.column),
        format!("PostgreSQL, running this statement, {}", work.join("; ")),
        "use the form that avoids the work (CREATE INDEX CONCURRENTLY; NOT VALID then VALIDATE; a \
         new column with a batched backfill; a batched data migration), or run it in a \
         maintenance window (`-- xtask: maintenance-window`)"
            .to_owned(),
    );
    finding.statement = Some(index);
    finding.source = Source::Trace;
    finding
}

/// Acknowledges the trace's own findings as the runner does the rules', and withdraws the
/// `unused-allow` the static pass reported for a directive that names them.
fn acknowledge_traced(findings: &mut Vec<Finding>, directives: &Directives) {
    let name = Rule::TracedBlockingWork.name();
    let allow = directives.allows.iter().find(|allow| allow.rule == name);
    let mut used = false;
    for finding in findings
        .iter_mut()
        .filter(|finding| finding.rule == Rule::TracedBlockingWork)
    {
        if let Some(allow) = allow {
            used = true;
            finding.acknowledged = Some(Acknowledgement::Allow {
                line: allow.line,
                reason: allow.reason.clone(),
            });
        } else if directives.maintenance_window {
            finding.acknowledged = Some(Acknowledgement::MaintenanceWindow);
        }
    }
    if let (true, Some(allow)) = (used, allow) {
        findings
            .retain(|finding| !(finding.rule == Rule::UnusedAllow && finding.line == allow.line));
    }
}

/// `rewrote public.tickets while holding ACCESS EXCLUSIVE (blocks reads and writes)`, one per table.
fn describe_blocking_work(trace: &StatementTrace) -> Vec<String> {
    trace
        .blocking_work()
        .into_iter()
        .map(|work| {
            let what = work
                .work
                .iter()
                .map(|kind| match *kind {
                    "rewrite" => "rewrote",
                    "scan" => "read every row of",
                    _ => "built an index on",
                })
                .collect::<Vec<_>>()
                .join(" and ");
            match work.mode {
                Some(mode) => format!(
                    "{what} {} while holding {mode} (blocks {})",
                    work.table,
                    mode.blocks().describe()
                ),
                None => format!(
                    "{what} {} outside a transaction, under a lock that is not CONCURRENTLY's",
                    work.table
                ),
            }
        })
        .collect()
}

/// What the trace says of a statement's data change.
enum Rows {
    /// It changed rows in bulk, or found the rows to change by reading a whole table: why.
    Large(Vec<String>),
    /// It found a few rows through unique indexes and changed at most those.
    Bounded,
    /// Not a data change, or the generated rows could not tell (an empty table, no row matched
    /// and nothing proves a key lookup): the rules' verdict stands.
    Unknown,
}

/// Judges a data change by the rows PostgreSQL read and changed in pre-existing tables. With
/// sequential scans discouraged, a whole table read means no index narrows the condition; a
/// lookup through a unique index that read part of a table of several rows is a key lookup.
fn judge_rows(trace: &StatementTrace, data_change: bool) -> Rows {
    if !data_change {
        return Rows::Unknown;
    }
    // The tables it writes: rows changed, or the write lock it took even when no generated row
    // matched.
    let written: BTreeSet<&str> = trace
        .rows_changed
        .keys()
        .map(String::as_str)
        .chain(
            trace
                .locks
                .iter()
                .filter(|lock| {
                    lock.index.is_none() && lock.new && lock.mode == LockMode::RowExclusive
                })
                .map(|lock| lock.table.as_str()),
        )
        .collect();
    let table_rows = |table: &str| trace.table_rows.get(table).copied().unwrap_or(0);
    let read_whole = |table: &str| {
        trace.scanned.iter().any(|scanned| scanned == table)
            || (table_rows(table) >= 2
                && trace.rows_read.get(table).copied().unwrap_or(0) >= table_rows(table))
    };
    let mut large = Vec::new();
    for table in &written {
        let changed = trace.rows_changed.get(*table).copied().unwrap_or(0);
        if changed > FEW_ROWS {
            large.push(format!("changed {changed} rows of {table}"));
        } else if read_whole(table) {
            large.push(format!(
                "found the rows of {table} to change by reading all of it (no index narrows the condition)"
            ));
        } else if let Some((index, _, _)) = trace
            .index_scans
            .iter()
            .find(|(_, scanned, unique)| scanned == table && !unique)
        {
            large.push(format!(
                "found the rows of {table} to change through the non-unique index {index} (every matching row in production)"
            ));
        }
    }
    // Reading a whole table takes as long as the table is large: it counts when the statement
    // writes a pre-existing table meanwhile (its row locks, or a lock that blocks writes, held
    // that long) or copies what it reads (one long transaction with its WAL). A read-only check
    // under ACCESS SHARE (an aggregate that writes nothing) makes nobody wait.
    let writes_existing = trace
        .locks
        .iter()
        .any(|lock| lock.mode >= LockMode::RowExclusive);
    let copies = |table: &str| trace.rows_written >= table_rows(table).max(2);
    for table in trace.rows_read.keys().chain(&trace.scanned) {
        if (writes_existing || copies(table))
            && !written.contains(table.as_str())
            && read_whole(table)
            && large.iter().all(|why| !why.contains(table.as_str()))
        {
            large.push(format!(
                "read every row of {table} (no index narrows the condition)"
            ));
        }
    }
    if !large.is_empty() {
        return Rows::Large(large);
    }
    let key_lookup = trace
        .index_scans
        .iter()
        .any(|(_, table, unique)| *unique && written.contains(table.as_str()));
    let bounded = key_lookup
        && trace.scanned.is_empty()
        && trace.index_scans.iter().all(|(_, _, unique)| *unique)
        && written
            .iter()
            .all(|table| table_rows(table) >= 2 && !read_whole(table));
    if bounded {
        Rows::Bounded
    } else {
        Rows::Unknown
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::forms::{alter_table_forms, Example, FIXTURE};
    use super::super::{lint_folder, lint_folder_traced, Risk, TraceSettings};
    use super::{describe_blocking_work, sql};
    use migrations::DatabaseUrl;

    const DOCUMENTED: &str = "-- Purpose: t\n-- Risk: t\n-- Rollback: t\n-- Performance: t\n";

    fn server() -> DatabaseUrl {
        std::env::var("BOMIZZEL_TEST_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
            .parse()
            .expect("BOMIZZEL_TEST_SERVER is a database URL")
    }

    fn write(dir: &Path, name: &str, sql: &str) {
        std::fs::write(dir.join(name), sql).unwrap();
    }

    /// What the static rules and the trace say of one example run after the fixture: the static
    /// class, the lock PostgreSQL held on the altered table, and the blocking work it saw.
    fn judge(example: &str) -> (Risk, String, Vec<String>) {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        write(dir, "V0001__fixture.sql", &format!("{DOCUMENTED}{FIXTURE}"));
        write(dir, "V0001__fixture.down.sql", "SELECT 1;\n");
        write(dir, "V0002__form.sql", &format!("{DOCUMENTED}{example};\n"));
        write(dir, "V0002__form.down.sql", "SELECT 1;\n");
        let statics = lint_folder(dir);
        let static_risk = statics
            .iter()
            .find(|report| report.path.ends_with("V0002__form.sql"))
            .unwrap()
            .risk;
        let (traced, unavailable) =
            lint_folder_traced(dir, &server(), &TraceSettings::default(), |_| true);
        assert!(unavailable.is_none(), "{:?}", unavailable.map(|u| u.0));
        let report = traced
            .into_iter()
            .find(|report| report.path.ends_with("V0002__form.sql"))
            .unwrap();
        let trace = report.trace.expect("the form was traced");
        if let Some(failure) = &trace.failure {
            panic!("{example}: {failure}");
        }
        let observed = trace.statements[0].trace.clone().expect("it ran");
        let parsed = sql::parse(example);
        let (altered, _) = sql::alter_table_commands(&parsed.statements[0].node)[0];
        let lock = observed
            .table_lock(&format!("public.{}", altered.relname))
            .map_or_else(|| "none".to_owned(), |mode| mode.to_string());
        let work = describe_blocking_work(&observed);
        (static_risk, lock, work)
    }

    /// The guarantee, walked over the whole forms table: the static verdict is never
    /// "safe" for a form PostgreSQL rewrites, scans or indexes under a lock that blocks writes.
    /// The table's lock levels are checked against what PostgreSQL held, too.
    #[test]
    fn no_alter_table_form_is_called_safe_where_the_trace_sees_blocking_work() {
        let forms: Vec<_> = alter_table_forms()
            .iter()
            .filter_map(|form| match form.example {
                Example::Runs(sql) => Some((form, sql)),
                _ => None,
            })
            .collect();
        let results: Vec<_> = std::thread::scope(|scope| {
            let workers: Vec<_> = forms
                .chunks(forms.len().div_ceil(4))
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|(form, sql)| (*form, *sql, judge(sql)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap())
                .collect()
        });
        let mut unsafe_calls = Vec::new();
        let mut lock_mismatches = Vec::new();
        for (form, sql, (static_risk, lock, work)) in &results {
            println!(
                "{:<45} table says {:<24} trace held {:<24} static {static_risk:<10} trace: {}",
                form.name,
                form.lock.to_string(),
                lock,
                if work.is_empty() {
                    "no blocking work".to_owned()
                } else {
                    work.join("; ")
                }
            );
            if !work.is_empty() && *static_risk == Risk::Safe {
                unsafe_calls.push(format!("{sql}: {}", work.join("; ")));
            }
            if *lock != form.lock.to_string() {
                lock_mismatches.push(format!("{sql}: table {}, PostgreSQL {lock}", form.lock));
            }
        }
        assert_eq!(results.len(), forms.len());
        assert!(unsafe_calls.is_empty(), "called safe: {unsafe_calls:#?}");
        assert!(
            lock_mismatches.is_empty(),
            "lock levels: {lock_mismatches:#?}"
        );
    }
}
