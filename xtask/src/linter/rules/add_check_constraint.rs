//! `add-check-constraint`: a CHECK constraint added to an existing table without `NOT VALID`.
//!
//! Why it matters: PostgreSQL checks every existing row while holding an ACCESS EXCLUSIVE lock:
//! no reads or writes for the whole scan.
//!
//! Safe way: add it `NOT VALID` (instant: only new and updated rows are checked), then
//! `VALIDATE CONSTRAINT` in a later migration, which scans without blocking reads or writes.

use pg_query::protobuf::ConstrType;

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
    sql::added_constraints(&statement.node)
        .into_iter()
        .filter(|added| {
            added.constraint.contype() == ConstrType::ConstrCheck
                && !added.constraint.skip_validation
                && !context.is_new_table(added.table)
        })
        .map(|added| {
            let table = sql::qualified_name(added.table);
            let mut not_valid = added.constraint.clone();
            if not_valid.conname.is_empty() {
                let columns = sql::constraint_columns(&added);
                not_valid.conname = format!("{}_{}_check", added.table.relname, columns.join("_"))
                    .replace("__", "_");
            }
            let safe_way = sql::not_valid_then_validate(added.table, not_valid, "CHECK (...)");
            context.finding(
                Rule::AddCheckConstraint,
                sql::location_or(added.constraint.location, statement),
                format!(
                    "adding a CHECK constraint to `{table}` scans every row under an ACCESS EXCLUSIVE lock"
                ),
                format!(
                    "add it NOT VALID, then validate it in a later migration (no blocking lock):\n{safe_way}"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_validating_checks() {
        let sql =
            "ALTER TABLE tickets ADD CONSTRAINT priority_range CHECK (priority BETWEEN 0 AND 9);\n";
        let findings = check(Rule::AddCheckConstraint, sql);
        assert_eq!(positions(&findings), [(1, 25)]);
        assert!(
            findings[0].help.contains(
                "ADD CONSTRAINT priority_range CHECK (priority BETWEEN 0 AND 9) NOT VALID;"
            ),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_not_valid_or_on_a_new_table() {
        let sql = "ALTER TABLE tickets ADD CONSTRAINT c CHECK (priority >= 0) NOT VALID;\n\
                   CREATE TABLE a (n int);\nALTER TABLE a ADD CHECK (n > 0);\n";
        assert!(check(Rule::AddCheckConstraint, sql).is_empty());
    }
}
