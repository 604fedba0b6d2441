//! `add-primary-key`: `ADD PRIMARY KEY` (or `ADD COLUMN ... PRIMARY KEY`) on an existing table,
//! without `USING INDEX`.
//!
//! Why it matters: PostgreSQL builds the unique index, and checks the columns for NULLs, while
//! holding an ACCESS EXCLUSIVE lock: no reads or writes for the whole build.
//!
//! Safe way: build the unique index concurrently first, then attach it, which only takes a brief
//! lock. Prove the columns NOT NULL beforehand (see `set-not-null`) so attaching does not scan.

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
            added.constraint.contype() == ConstrType::ConstrPrimary
                && added.constraint.indexname.is_empty()
                && !context.is_new_table(added.table)
        })
        .map(|added| {
            let table = sql::qualified_name(added.table);
            let columns = sql::constraint_columns(&added).join(", ");
            let index = format!("{}_pkey", added.table.relname);
            context.finding(
                Rule::AddPrimaryKey,
                sql::location_or(added.constraint.location, statement),
                format!(
                    "adding a primary key to `{table}` builds its index under an ACCESS EXCLUSIVE lock"
                ),
                format!(
                    "build the index concurrently (alone, `-- xtask: no-transaction`), then attach it:\n\
                     CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({columns});\n\
                     ALTER TABLE {table} ADD CONSTRAINT {index} PRIMARY KEY USING INDEX {index};"
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
    fn fires_on_a_primary_key_built_under_lock() {
        let findings = check(
            Rule::AddPrimaryKey,
            "ALTER TABLE tickets ADD PRIMARY KEY (id);\n",
        );
        assert_eq!(positions(&findings), [(1, 25)]);
        assert!(
            findings[0].help.contains("ON tickets (id)"),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_using_an_index_or_on_a_new_table() {
        let sql = "ALTER TABLE tickets ADD CONSTRAINT tickets_pkey PRIMARY KEY USING INDEX tickets_pkey;\n\
                   CREATE TABLE a (id int);\nALTER TABLE a ADD PRIMARY KEY (id);\n";
        assert!(check(Rule::AddPrimaryKey, sql).is_empty());
    }
}
