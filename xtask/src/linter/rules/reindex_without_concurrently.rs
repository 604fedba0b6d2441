//! `reindex-without-concurrently`: `REINDEX` without `CONCURRENTLY`.
//!
//! Why it matters: a plain `REINDEX` blocks writes to the table, and reads that would use the
//! index, until the rebuild finishes.
//!
//! Safe way: `REINDEX (CONCURRENTLY)` (PostgreSQL 12+), alone in a migration marked
//! `-- xtask: no-transaction`; better still, do routine reindexing outside migrations.

use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Lock,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::ReindexStmt(reindex) = &statement.node else {
        return Vec::new();
    };
    let on_new_table = reindex
        .relation
        .as_ref()
        .is_some_and(|table| context.is_new_table(table));
    if sql::has_option(&reindex.params, "concurrently") || on_new_table {
        return Vec::new();
    }
    vec![context.finding(
        Rule::ReindexWithoutConcurrently,
        statement.start,
        "REINDEX without CONCURRENTLY blocks writes (and reads using the index) until it finishes"
            .into(),
        "use REINDEX (CONCURRENTLY) ..., alone in a `-- xtask: no-transaction` migration".into(),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_a_blocking_reindex() {
        let findings = check(Rule::ReindexWithoutConcurrently, "REINDEX TABLE tickets;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_concurrently() {
        let sql = "REINDEX TABLE CONCURRENTLY tickets;\nREINDEX (CONCURRENTLY) INDEX a_idx;\n";
        assert!(check(Rule::ReindexWithoutConcurrently, sql).is_empty());
    }
}
