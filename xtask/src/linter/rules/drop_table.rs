//! `drop-table`: `DROP TABLE` of a table this migration did not create.
//!
//! Why it matters: the rows are gone for good, and the application version still running during
//! the deploy fails on every query that touches the table.
//!
//! Safe way: dropping is the last step of expand/contract. First release application code that
//! no longer uses the table; then drop it in a later migration that records the decision:
//! `-- xtask: allow drop-table -- unused since release N, data archived in ...`.
//!
//! A down file dropping a table its up file created is the expected rollback and is not reported.

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
    if drop.remove_type() != ObjectType::ObjectTable {
        return Vec::new();
    }
    drop.objects
        .iter()
        .filter_map(|object| match &object.node {
            Some(NodeEnum::List(name)) => sql::last_name(&name.items),
            _ => None,
        })
        .filter(|table| !context.is_new_table_named(table))
        .map(|table| {
            context.finding(
                Rule::DropTable,
                statement.start,
                format!(
                    "dropping table `{table}` deletes its rows and breaks the running application if it still uses them"
                ),
                format!(
                    "first release code that no longer uses `{table}`; then drop it in a later \
                     migration with `-- xtask: allow drop-table -- unused since release N`"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_down, positions, rendered};
    use crate::linter::finding::Severity;
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_an_existing_table() {
        let findings = check(
            Rule::DropTable,
            "SELECT 1;\nDROP TABLE IF EXISTS tickets, queues;\n",
        );
        assert_eq!(positions(&findings), [(2, 1), (2, 1)]);
        assert!(findings[1].message.contains("`queues`"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_a_table_created_earlier_in_the_migration() {
        let sql = "CREATE TABLE scratch (id int);\nDROP TABLE scratch;\n";
        assert!(check(Rule::DropTable, sql).is_empty());
    }

    #[test]
    fn in_a_down_file_quiet_on_what_its_up_created_and_a_warning_otherwise() {
        assert!(
            check_down(Rule::DropTable, "CREATE TABLE a (id int);", "DROP TABLE a;").is_empty()
        );
        let findings = check_down(Rule::DropTable, "CREATE TABLE a (id int);", "DROP TABLE b;");
        assert_eq!(findings[0].severity, Severity::Warning);
    }
}
