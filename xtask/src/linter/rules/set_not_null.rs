//! `set-not-null`: `ALTER COLUMN ... SET NOT NULL` (or `ADD CONSTRAINT ... NOT NULL`) on an
//! existing table, when no validated `CHECK (column IS NOT NULL)` proves it already.
//!
//! Why it matters: PostgreSQL scans the whole table to check for NULLs while holding an ACCESS
//! EXCLUSIVE lock: reads and writes wait for the scan.
//!
//! Safe way: add `CHECK (column IS NOT NULL) NOT VALID` (instant), `VALIDATE CONSTRAINT` it
//! (scans without blocking reads or writes), then `SET NOT NULL`: PostgreSQL 12+ uses the
//! validated CHECK instead of scanning. The linter follows those constraints through the
//! earlier migrations, so this sequence passes.

use pg_query::protobuf::{AlterTableType, ConstrType};

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
    let mut columns = Vec::new();
    for (table, command) in sql::alter_table_commands(&statement.node) {
        if command.subtype() == AlterTableType::AtSetNotNull {
            columns.push((table, command.name.clone()));
        }
    }
    for added in sql::added_constraints(&statement.node) {
        if added.column.is_none() && added.constraint.contype() == ConstrType::ConstrNotnull {
            columns.extend(
                sql::constraint_columns(&added)
                    .into_iter()
                    .map(|column| (added.table, column)),
            );
        }
    }
    columns
        .into_iter()
        .filter(|(table, column)| {
            !context.is_new_table(table) && !context.catalog.proves_not_null(&table.relname, column)
        })
        .map(|(table, column)| {
            let table = sql::qualified_name(table);
            let constraint = format!("{}_{column}_not_null", table.replace('.', "_"));
            context.finding(
                Rule::SetNotNull,
                statement.start,
                format!(
                    "SET NOT NULL on `{table}.{column}` scans the whole table under an ACCESS EXCLUSIVE lock"
                ),
                format!(
                    "prove it first without blocking, then SET NOT NULL skips the scan:\n\
                     ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({column} IS NOT NULL) NOT VALID;\n\
                     ALTER TABLE {table} VALIDATE CONSTRAINT {constraint};\n\
                     ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_after, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_an_unproven_column() {
        let findings = check(
            Rule::SetNotNull,
            "ALTER TABLE tickets ALTER COLUMN due SET NOT NULL;\n",
        );
        assert_eq!(positions(&findings), [(1, 1)]);
        assert!(findings[0]
            .help
            .contains("CHECK (due IS NOT NULL) NOT VALID"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_after_a_validated_check_or_on_a_new_table() {
        let earlier = "CREATE TABLE tickets (id int, due date);\n\
                       ALTER TABLE tickets ADD CONSTRAINT due_nn CHECK (due IS NOT NULL) NOT VALID;\n";
        let sql = "ALTER TABLE tickets VALIDATE CONSTRAINT due_nn;\n\
                   ALTER TABLE tickets ALTER COLUMN due SET NOT NULL;\n";
        assert!(check_after(Rule::SetNotNull, earlier, sql).is_empty());
        let sql = "CREATE TABLE a (b int);\nALTER TABLE a ALTER COLUMN b SET NOT NULL;\n";
        assert!(check(Rule::SetNotNull, sql).is_empty());
    }

    #[test]
    fn an_unvalidated_check_is_not_proof() {
        let earlier = "CREATE TABLE tickets (id int, due date);\n\
                       ALTER TABLE tickets ADD CONSTRAINT due_nn CHECK (due IS NOT NULL) NOT VALID;\n";
        let sql = "ALTER TABLE tickets ALTER COLUMN due SET NOT NULL;\n";
        assert_eq!(check_after(Rule::SetNotNull, earlier, sql).len(), 1);
    }
}
