//! `add-foreign-key`: a foreign key added to an existing table without `NOT VALID`.
//!
//! Why it matters: PostgreSQL checks every existing row against the referenced table while
//! holding SHARE ROW EXCLUSIVE locks on both tables, blocking their writes for the whole scan.
//!
//! Safe way: add it `NOT VALID` (instant: only new rows are checked), then `VALIDATE CONSTRAINT`
//! in a later migration, which scans without blocking writes. Foreign keys in `CREATE TABLE`, or
//! on tables created by the same migration, are not reported.

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
            added.constraint.contype() == ConstrType::ConstrForeign
                && !added.constraint.skip_validation
                && !context.is_new_table(added.table)
        })
        .map(|added| {
            let table = sql::qualified_name(added.table);
            let columns = sql::constraint_columns(&added);
            let mut not_valid = added.constraint.clone();
            if not_valid.conname.is_empty() {
                not_valid.conname = format!("{}_{}_fkey", added.table.relname, columns.join("_"));
            }
            if not_valid.fk_attrs.is_empty() {
                // Written inline on a new column: the standalone form names the column.
                not_valid.fk_attrs = columns.iter().map(|column| string_node(column)).collect();
            }
            let safe_way = sql::not_valid_then_validate(added.table, not_valid, "...");
            context.finding(
                Rule::AddForeignKey,
                sql::location_or(added.constraint.location, statement),
                format!(
                    "adding a foreign key to `{table}` checks every row while blocking writes to both tables"
                ),
                format!(
                    "add it NOT VALID, then validate it in a later migration (no write lock):\n{safe_way}"
                ),
            )
        })
        .collect()
}

fn string_node(value: &str) -> pg_query::Node {
    pg_query::Node {
        node: Some(pg_query::NodeEnum::String(pg_query::protobuf::String {
            sval: value.to_owned(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_validating_foreign_keys() {
        let sql = "ALTER TABLE tickets ADD CONSTRAINT tickets_team_fk FOREIGN KEY (team_id) REFERENCES teams (id);\n\
                   ALTER TABLE tickets ADD COLUMN owner_id bigint REFERENCES users (id);\n";
        let findings = check(Rule::AddForeignKey, sql);
        assert_eq!(positions(&findings), [(1, 25), (2, 48)]);
        assert!(
            findings[0].help.contains(
                "ALTER TABLE tickets ADD CONSTRAINT tickets_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;"
            ),
            "{}",
            findings[0].help
        );
        assert!(
            findings[1]
                .help
                .contains("tickets_owner_id_fkey FOREIGN KEY (owner_id)"),
            "{}",
            findings[1].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_not_valid_or_on_a_new_table() {
        let sql = "ALTER TABLE tickets ADD CONSTRAINT f FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;\n\
                   ALTER TABLE tickets VALIDATE CONSTRAINT f;\n\
                   CREATE TABLE a (id int, user_id int REFERENCES users (id));\n\
                   ALTER TABLE a ADD FOREIGN KEY (id) REFERENCES users (id);\n";
        assert!(check(Rule::AddForeignKey, sql).is_empty());
    }
}
