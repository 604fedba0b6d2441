//! `add-required-column`: `ADD COLUMN ... NOT NULL` without a default on an existing table.
//!
//! Why it matters: PostgreSQL refuses it as soon as the table has a row, and once it exists every
//! `INSERT` of the application version still running (which does not know the column) fails.
//!
//! Safe way: add the column nullable or with a constant default (PostgreSQL 11+ stores a constant
//! default without rewriting the table), backfill existing rows in batches, then enforce NOT NULL
//! through a validated CHECK so that no step scans the table under an exclusive lock.

use pg_query::protobuf::ConstrType;

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
    let mut findings = Vec::new();
    for (table, command) in sql::alter_table_commands(&statement.node) {
        let Some(column) = sql::added_column(command) else {
            continue;
        };
        let required = column.is_not_null || sql::has_constraint(column, ConstrType::ConstrNotnull);
        // A default, an identity or a generated value fills the existing rows.
        let filled = [
            ConstrType::ConstrDefault,
            ConstrType::ConstrIdentity,
            ConstrType::ConstrGenerated,
        ]
        .into_iter()
        .any(|kind| sql::has_constraint(column, kind));
        if !required || filled || context.is_new_table(table) {
            continue;
        }
        let (table, name) = (sql::qualified_name(table), &column.colname);
        let column_type = column
            .type_name
            .as_ref()
            .map(|type_name| crate::linter::catalog::ColumnType::of(type_name).to_string())
            .unwrap_or_default();
        findings.push(context.finding(
            Rule::AddRequiredColumn,
            sql::location_or(column.location, statement),
            format!(
                "adding `{table}.{name}` as NOT NULL without a default fails on a table with rows, and breaks the running application's inserts"
            ),
            format!(
                "add it nullable, backfill in batches, then prove NOT NULL without a long lock:\n\
                 ALTER TABLE {table} ADD COLUMN {name} {column_type};\n\
                 ALTER TABLE {table} ADD CONSTRAINT {name}_not_null CHECK ({name} IS NOT NULL) NOT VALID;\n\
                 ALTER TABLE {table} VALIDATE CONSTRAINT {name}_not_null;\n\
                 ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL;\n\
                 (or give it a constant default: ADD COLUMN {name} {column_type} NOT NULL DEFAULT ...)"
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_not_null_without_default() {
        let findings = check(
            Rule::AddRequiredColumn,
            "ALTER TABLE tickets ADD COLUMN due date NOT NULL;\n",
        );
        assert_eq!(positions(&findings), [(1, 32)]);
        assert!(
            findings[0].help.contains("ADD COLUMN due date;"),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_with_a_default_nullable_or_on_a_new_table() {
        let sql = "ALTER TABLE tickets ADD COLUMN due date;\n\
                   ALTER TABLE tickets ADD COLUMN state text NOT NULL DEFAULT 'new';\n\
                   CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b int NOT NULL;\n";
        assert!(check(Rule::AddRequiredColumn, sql).is_empty());
    }
}
