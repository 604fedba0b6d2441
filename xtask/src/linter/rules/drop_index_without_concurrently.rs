//! `drop-index-without-concurrently`: `DROP INDEX` without `CONCURRENTLY`.
//!
//! Why it matters: a plain `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table, so
//! every read and write of it waits, including behind any long query already running.
//!
//! Safe way: `DROP INDEX CONCURRENTLY`, alone in a migration marked `-- xtask: no-transaction`.
//! Indexes on tables created by the same migration (or, in a down file, by its up file) are not
//! reported.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::DropStmt(drop) = &statement.node else {
        return Vec::new();
    };
    if drop.remove_type() != ObjectType::ObjectIndex || drop.concurrent {
        return Vec::new();
    }
    drop.objects
        .iter()
        .filter_map(|object| match &object.node {
            Some(NodeEnum::List(name)) => Some(sql::strings(&name.items).collect::<Vec<_>>()),
            _ => None,
        })
        .filter(|name| {
            let index = name.last().copied().unwrap_or_default();
            !context
                .new_index_table(index)
                .is_some_and(|table| context.is_new_table_named(table))
        })
        .map(|name| {
            let index = name.join(".");
            context.finding(
                Rule::DropIndexWithoutConcurrently,
                statement.start,
                format!(
                    "DROP INDEX `{index}` without CONCURRENTLY locks its table against reads and writes"
                ),
                format!(
                    "drop it concurrently, alone in a `-- xtask: no-transaction` migration:\n\
                     DROP INDEX CONCURRENTLY {index};"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_down, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_a_blocking_drop() {
        let findings = check(
            Rule::DropIndexWithoutConcurrently,
            "DROP INDEX public.tickets_title_idx;\n",
        );
        assert_eq!(positions(&findings), [(1, 1)]);
        assert!(findings[0]
            .help
            .contains("DROP INDEX CONCURRENTLY public.tickets_title_idx;"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_concurrently_or_on_an_index_of_a_new_table() {
        let sql = "DROP INDEX CONCURRENTLY tickets_title_idx;\n";
        assert!(check(Rule::DropIndexWithoutConcurrently, sql).is_empty());
        let up = "CREATE TABLE a (id int);\nCREATE INDEX a_idx ON a (id);\n";
        assert!(check_down(Rule::DropIndexWithoutConcurrently, up, "DROP INDEX a_idx;").is_empty());
    }
}
