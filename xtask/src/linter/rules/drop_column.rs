//! `drop-column`: `ALTER TABLE ... DROP COLUMN` of a column that existed before this migration.
//!
//! Why it matters: the column's data is gone for good, and the application version still running
//! during the deploy fails on every query that names the column (including `INSERT`s that set
//! it, and ORMs that select every mapped column).
//!
//! Classified risky, not multi-step: dropping is itself the last step ("remove the old") of an
//! expand/contract change. The linter cannot see whether released code still reads the column,
//! so the author records that it does not:
//! `-- xtask: allow drop-column -- unused since release N`.
//!
//! Safe way: release code that neither reads nor writes the column (tell the ORM to ignore it);
//! then drop it in a later migration with the acknowledgement.

use pg_query::protobuf::AlterTableType;

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
    sql::alter_table_commands(&statement.node)
        .into_iter()
        .filter(|(table, command)| {
            command.subtype() == AlterTableType::AtDropColumn
                && !context.is_new_column(table, &command.name)
        })
        .map(|(table, command)| {
            let (table, column) = (sql::qualified_name(table), &command.name);
            context.finding(
                Rule::DropColumn,
                statement.start,
                format!(
                    "dropping column `{table}.{column}` deletes its data and breaks the running application if it still reads or writes it"
                ),
                format!(
                    "this is the last step of expand/contract: first release code that neither \
                     reads nor writes `{column}`, then drop it in a later migration with \
                     `-- xtask: allow drop-column -- unused since release N`"
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
    fn fires_on_an_existing_column() {
        let findings = check(
            Rule::DropColumn,
            "ALTER TABLE tickets DROP COLUMN legacy;\n",
        );
        assert_eq!(positions(&findings), [(1, 1)]);
        assert!(findings[0].message.contains("`tickets.legacy`"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_new_tables_and_columns_added_by_this_migration() {
        let sql = "CREATE TABLE a (id int, b int);\nALTER TABLE a DROP COLUMN b;\n\
                   ALTER TABLE tickets ADD COLUMN tmp int;\nALTER TABLE tickets DROP COLUMN tmp;\n";
        assert!(check(Rule::DropColumn, sql).is_empty());
    }
}
