//! `truncate-table`: `TRUNCATE` of a table this migration did not create.
//!
//! Why it matters: every row is gone for good, under an ACCESS EXCLUSIVE lock, and the running
//! application loses its data mid-flight.
//!
//! Safe way: if the rows really must go, record it: `-- xtask: allow truncate-table -- why`;
//! to thin out a large table, delete in batches (see `unbatched-data-migration`).

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
    let NodeEnum::TruncateStmt(truncate) = &statement.node else {
        return Vec::new();
    };
    truncate
        .relations
        .iter()
        .filter_map(|relation| match &relation.node {
            Some(NodeEnum::RangeVar(table)) if !context.is_new_table(table) => Some(table),
            _ => None,
        })
        .map(|table| {
            context.finding(
                Rule::TruncateTable,
                statement.start,
                format!(
                    "TRUNCATE deletes every row of `{}` under an ACCESS EXCLUSIVE lock",
                    sql::qualified_name(table)
                ),
                "if the rows must go, record why with `-- xtask: allow truncate-table -- reason`; \
                 to thin out a table, delete in batches"
                    .into(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_an_existing_table() {
        let findings = check(Rule::TruncateTable, "TRUNCATE sessions;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_a_new_table() {
        let sql = "CREATE TABLE staging (id int);\nTRUNCATE staging;\n";
        assert!(check(Rule::TruncateTable, sql).is_empty());
    }
}
