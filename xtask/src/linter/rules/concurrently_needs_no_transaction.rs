//! `concurrently-needs-no-transaction`: `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`,
//! `REINDEX ... CONCURRENTLY` or `DETACH PARTITION ... CONCURRENTLY` in a migration the engine
//! runs inside a transaction.
//!
//! Why it matters: PostgreSQL refuses these inside a transaction block, so the migration fails
//! on every run.
//!
//! Safe way: put the statement alone in a migration marked `-- xtask: no-transaction`
//! (`cargo xtask new --no-transaction NAME` writes the marker).

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Broken,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    if context.no_transaction() {
        return Vec::new();
    }
    let Some(operation) = concurrent_operation(&statement.node) else {
        return Vec::new();
    };
    vec![context.finding(
        Rule::ConcurrentlyNeedsNoTransaction,
        statement.start,
        format!(
            "{operation} cannot run inside a transaction block, and this migration runs in one"
        ),
        "add `-- xtask: no-transaction` to this file and keep this statement alone in it".into(),
    )]
}

fn concurrent_operation(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(index) if index.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(drop) if drop.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(reindex) if sql::has_option(&reindex.params, "concurrently") => {
            Some("REINDEX CONCURRENTLY")
        }
        NodeEnum::AlterTableStmt(_) => sql::alter_table_commands(node)
            .into_iter()
            .any(|(_, command)| {
                command.subtype() == AlterTableType::AtDetachPartition
                    && matches!(
                        command.def.as_deref().and_then(|def| def.node.as_ref()),
                        Some(NodeEnum::PartitionCmd(partition)) if partition.concurrent
                    )
            })
            .then_some("DETACH PARTITION CONCURRENTLY"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_concurrent_operations_in_a_transaction() {
        let sql = "CREATE INDEX CONCURRENTLY a_idx ON a (b);\nDROP INDEX CONCURRENTLY b_idx;\n\
                   REINDEX INDEX CONCURRENTLY c_idx;\nALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;\n";
        let findings = check(Rule::ConcurrentlyNeedsNoTransaction, sql);
        assert_eq!(positions(&findings), [(1, 1), (2, 1), (3, 1), (4, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_with_no_transaction_or_without_concurrently() {
        let sql = "-- xtask: no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON a (b);\n";
        assert!(check(Rule::ConcurrentlyNeedsNoTransaction, sql).is_empty());
        let sql = "CREATE INDEX a_idx ON a (b);\n";
        assert!(check(Rule::ConcurrentlyNeedsNoTransaction, sql).is_empty());
    }
}
