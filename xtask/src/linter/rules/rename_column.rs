//! `rename-column`: `ALTER TABLE ... RENAME COLUMN` of a column that existed before this
//! migration.
//!
//! Why it matters: the previous application version, still serving traffic while migrations
//! run, reads and writes the old name; it fails from the moment the rename commits until the new
//! version is fully deployed, and again if the deploy is rolled back.
//!
//! Safe way: the strategy's multi-step change. The finding spells out the five releases for the
//! column at hand (with its type, known from the earlier migrations): add the new column, write
//! both, backfill in batches, switch reads, drop the old column.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{ExpandContract, Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::MultiStep,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::RenameStmt(rename) = &statement.node else {
        return Vec::new();
    };
    let Some(relation) = &rename.relation else {
        return Vec::new();
    };
    if rename.rename_type() != ObjectType::ObjectColumn
        || context.is_new_column(relation, &rename.subname)
    {
        return Vec::new();
    }
    let (table, old, new) = (
        sql::qualified_name(relation),
        &rename.subname,
        &rename.newname,
    );
    let column_type = context
        .catalog
        .column_type(&relation.relname, old)
        .map_or_else(|| format!("<type of {old}>"), ToString::to_string);
    let steps = ExpandContract {
        add: format!("ALTER TABLE {table} ADD COLUMN {new} {column_type};"),
        dual_write: format!(
            "release code that writes both `{old}` and `{new}` (or a trigger that copies `{old}` into `{new}`)"
        ),
        backfill: format!(
            "UPDATE {table} SET {new} = {old} WHERE id >= :start AND id < :start + 5000;"
        ),
        switch_reads: format!("release code that reads `{new}` only, then stop writing `{old}`"),
        remove: format!(
            "ALTER TABLE {table} DROP COLUMN {old};  -- with `-- xtask: allow drop-column -- reason`"
        ),
    };
    vec![context.finding(
        Rule::RenameColumn,
        statement.start,
        format!(
            "renaming `{table}.{old}` to `{new}` breaks the running application, which still uses `{old}`"
        ),
        steps.help(),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_after, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_with_the_five_steps_for_that_column() {
        let earlier = "CREATE TABLE tickets (id bigint, title varchar(200));";
        let findings = check_after(
            Rule::RenameColumn,
            earlier,
            "ALTER TABLE tickets RENAME COLUMN title TO subject;\n",
        );
        assert_eq!(positions(&findings), [(1, 1)]);
        let help = &findings[0].help;
        assert!(
            help.contains("1. add the new beside the old: ALTER TABLE tickets ADD COLUMN subject varchar(200);"),
            "{help}"
        );
        assert!(
            help.contains("UPDATE tickets SET subject = title"),
            "{help}"
        );
        assert!(help.contains("DROP COLUMN title"), "{help}");
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_new_tables_and_columns() {
        let sql = "CREATE TABLE a (b int);\nALTER TABLE a RENAME COLUMN b TO c;\n\
                   ALTER TABLE tickets ADD COLUMN draft int;\nALTER TABLE tickets RENAME COLUMN draft TO due;\n";
        assert!(check(Rule::RenameColumn, sql).is_empty());
    }
}
