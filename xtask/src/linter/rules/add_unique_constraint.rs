//! `add-unique-constraint`: `ADD CONSTRAINT ... UNIQUE` (or `ADD COLUMN ... UNIQUE`) on an
//! existing table, without `USING INDEX`.
//!
//! Why it matters: PostgreSQL builds the unique index while holding an ACCESS EXCLUSIVE lock: no
//! reads or writes for the whole build.
//!
//! Safe way: `CREATE UNIQUE INDEX CONCURRENTLY` first (alone, `-- xtask: no-transaction`), then
//! `ADD CONSTRAINT ... UNIQUE USING INDEX`, which only takes a brief lock.

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
            added.constraint.contype() == ConstrType::ConstrUnique
                && added.constraint.indexname.is_empty()
                && !context.is_new_table(added.table)
        })
        .map(|added| {
            let table = sql::qualified_name(added.table);
            let columns = sql::constraint_columns(&added);
            let name = if added.constraint.conname.is_empty() {
                format!("{}_{}_key", added.table.relname, columns.join("_"))
            } else {
                added.constraint.conname.clone()
            };
            let columns = columns.join(", ");
            context.finding(
                Rule::AddUniqueConstraint,
                sql::location_or(added.constraint.location, statement),
                format!(
                    "adding a UNIQUE constraint to `{table}` builds its index under an ACCESS EXCLUSIVE lock"
                ),
                format!(
                    "build the index concurrently (alone, `-- xtask: no-transaction`), then attach it:\n\
                     CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns});\n\
                     ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name};"
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
    fn fires_on_unique_constraints_and_unique_columns() {
        let sql = "ALTER TABLE users ADD CONSTRAINT users_handle_key UNIQUE (handle);\n\
                   ALTER TABLE users ADD COLUMN code text UNIQUE;\n";
        let findings = check(Rule::AddUniqueConstraint, sql);
        assert_eq!(positions(&findings), [(1, 23), (2, 40)]);
        assert!(
            findings[1].help.contains("users_code_key ON users (code)"),
            "{}",
            findings[1].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_using_an_index_or_on_a_new_table() {
        let sql = "ALTER TABLE users ADD CONSTRAINT users_handle_key UNIQUE USING INDEX users_handle_key;\n\
                   CREATE TABLE a (id int);\nALTER TABLE a ADD UNIQUE (id);\n";
        assert!(check(Rule::AddUniqueConstraint, sql).is_empty());
    }
}
