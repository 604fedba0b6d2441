//! `add-serial-column`: `ADD COLUMN` of a `serial`/`bigserial`/`smallserial` or identity column
//! on an existing table.
//!
//! Why it matters: every existing row needs its own value from the sequence, so PostgreSQL
//! rewrites the whole table under an ACCESS EXCLUSIVE lock.
//!
//! Safe way: add a nullable `bigint` column, give it a sequence default for new rows, backfill
//! existing rows in batches, then prove NOT NULL with a validated CHECK.

use pg_query::protobuf::ConstrType;

use crate::linter::catalog::ColumnType;
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

const SERIAL_TYPES: [&str; 6] = [
    "serial",
    "serial4",
    "bigserial",
    "serial8",
    "smallserial",
    "serial2",
];

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (table, command) in sql::alter_table_commands(&statement.node) {
        let Some(column) = sql::added_column(command) else {
            continue;
        };
        let type_name = column.type_name.as_ref().map(ColumnType::of);
        let serial = type_name
            .as_ref()
            .is_some_and(|type_name| SERIAL_TYPES.contains(&type_name.name.as_str()));
        let identity = sql::has_constraint(column, ConstrType::ConstrIdentity);
        if !(serial || identity) || context.is_new_table(table) {
            continue;
        }
        let (table, name) = (sql::qualified_name(table), &column.colname);
        let kind = if serial { "serial" } else { "identity" };
        findings.push(context.finding(
            Rule::AddSerialColumn,
            sql::location_or(column.location, statement),
            format!(
                "adding the {kind} column `{table}.{name}` numbers every existing row: a full table rewrite under an ACCESS EXCLUSIVE lock"
            ),
            format!(
                "add it nullable with a sequence default for new rows, then backfill in batches:\n\
                 CREATE SEQUENCE {table}_{name}_seq;\n\
                 ALTER TABLE {table} ADD COLUMN {name} bigint;\n\
                 ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT nextval('{table}_{name}_seq');"
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
    fn fires_on_serial_and_identity_columns() {
        let sql = "ALTER TABLE tickets ADD COLUMN n bigserial;\n\
                   ALTER TABLE tickets ADD COLUMN m bigint GENERATED ALWAYS AS IDENTITY;\n";
        let findings = check(Rule::AddSerialColumn, sql);
        assert_eq!(positions(&findings), [(1, 32), (2, 32)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_plain_columns_and_new_tables() {
        let sql = "ALTER TABLE tickets ADD COLUMN n bigint;\n\
                   CREATE TABLE a (x int);\nALTER TABLE a ADD COLUMN id bigserial;\n";
        assert!(check(Rule::AddSerialColumn, sql).is_empty());
    }
}
