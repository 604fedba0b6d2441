//! `cluster`: `CLUSTER` in a migration.
//!
//! Why it matters: it rewrites the table in index order under an ACCESS EXCLUSIVE lock: no reads,
//! no writes until it finishes.
//!
//! Safe way: `pg_repack --order-by` outside the migrations, or a maintenance window.

use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::Statement;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Lock,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::ClusterStmt(cluster) = &statement.node else {
        return Vec::new();
    };
    if cluster
        .relation
        .as_ref()
        .is_some_and(|table| context.is_new_table(table))
    {
        return Vec::new();
    }
    vec![context.finding(
        Rule::Cluster,
        statement.start,
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock".into(),
        "use pg_repack --order-by outside the migrations, or a maintenance window".into(),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_cluster() {
        let findings = check(Rule::Cluster, "CLUSTER tickets USING tickets_pkey;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_a_new_table() {
        let sql = "CREATE TABLE a (id int PRIMARY KEY);\nCLUSTER a USING a_pkey;\n";
        assert!(check(Rule::Cluster, sql).is_empty());
    }
}
