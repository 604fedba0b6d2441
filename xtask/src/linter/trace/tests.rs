//! The trace against the forms table: for every runnable `ALTER TABLE` example, the static verdict
//! is never "safe" where PostgreSQL did blocking work, and the table's lock is the one it held.

use std::path::Path;

use super::super::forms::{alter_table_forms, Example, FIXTURE};
use super::super::{lint_folder, lint_folder_traced, Risk, TraceSettings};
use super::{describe_blocking_work, sql, traced_finding, Plan, PlannedStatement};
use crate::linter::context::test_support::rendered;
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

/// `traced-blocking-work`'s message and help, on a statement of an in-memory plan.
#[test]
fn traced_work_is_a_finding_at_its_statement() {
    let plan = Plan {
        version: 2,
        statements: vec![PlannedStatement {
            to_trace: migrations::trace::StatementToTrace {
                range: 0..40,
                data_change: false,
                concurrently: false,
            },
            line: 6,
            column: 1,
            head: "ALTER TABLE tickets ALTER COLUMN a TYPE bigint;".into(),
        }],
        directives: Default::default(),
    };
    let work = [
        "rewrote public.tickets while holding ACCESS EXCLUSIVE (blocks reads and writes)"
            .to_owned(),
    ];
    let finding = traced_finding(&plan, 0, &work);
    assert_eq!(finding.statement, Some(0));
    insta::assert_snapshot!(rendered(&[finding]));
}
