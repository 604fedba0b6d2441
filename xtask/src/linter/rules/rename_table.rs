//! `rename-table`: `ALTER TABLE/VIEW ... RENAME TO` of a relation this migration did not create.
//!
//! Why it matters: migrations run while the previous application version still serves traffic,
//! and that version queries the old name: it fails from the moment the rename commits until the
//! new version is fully deployed, and again if the deploy is rolled back.
//!
//! Safe way: the strategy's multi-step change. The finding spells out the five releases for the
//! table at hand: create the new table beside the old, dual-write, copy existing rows in batches,
//! switch reads, drop the old table. Or, simpler for a table, rename and in the same migration
//! create a view under the old name (`CREATE VIEW old AS SELECT * FROM new`): a simple view is
//! updatable, so the running version keeps reading and writing through it, and the rename is not
//! reported (`cargo xtask new --expand-contract rename-table` writes exactly that).

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
    let relation_kinds = [
        ObjectType::ObjectTable,
        ObjectType::ObjectView,
        ObjectType::ObjectMatview,
    ];
    let Some(table) = &rename.relation else {
        return Vec::new();
    };
    if !relation_kinds.contains(&rename.rename_type())
        || context.is_new_table(table)
        || keeps_old_name_as_view(context, &table.relname)
    {
        return Vec::new();
    }
    let (old, new) = (sql::qualified_name(table), &rename.newname);
    let steps = ExpandContract {
        add: format!("CREATE TABLE {new} (LIKE {old} INCLUDING ALL);"),
        dual_write: format!(
            "release code that writes every change to both `{old}` and `{new}` (or a trigger on `{old}` that copies them)"
        ),
        backfill: format!(
            "INSERT INTO {new} SELECT * FROM {old} WHERE id >= :start AND id < :start + 5000 ON CONFLICT DO NOTHING;"
        ),
        switch_reads: format!("release code that reads `{new}` only, then stop writing `{old}`"),
        remove: format!("DROP TABLE {old};  -- with `-- xtask: allow drop-table -- reason`"),
    };
    vec![context.finding(
        Rule::RenameTable,
        statement.start,
        format!(
            "renaming `{old}` to `{new}` breaks the running application, which still uses `{old}`"
        ),
        steps.help(),
    )]
}

/// Whether the same migration creates a view under the old name: the running version keeps
/// working through it.
fn keeps_old_name_as_view(context: &Context, old: &str) -> bool {
    context.parsed.statements.iter().any(|statement| {
        matches!(&statement.node, NodeEnum::ViewStmt(view)
            if view.view.as_ref().is_some_and(|view| view.relname == old))
    })
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_with_the_five_steps_for_that_table() {
        let findings = check(Rule::RenameTable, "ALTER TABLE tickets RENAME TO issues;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        let help = &findings[0].help;
        assert!(
            help.contains(
                "1. add the new beside the old: CREATE TABLE issues (LIKE tickets INCLUDING ALL);"
            ),
            "{help}"
        );
        assert!(help.contains("5. remove the old"), "{help}");
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_new_tables_and_other_renames() {
        let sql = "CREATE TABLE a (id int);\nALTER TABLE a RENAME TO b;\n\
                   ALTER INDEX tickets_idx RENAME TO tickets_title_idx;\n";
        assert!(check(Rule::RenameTable, sql).is_empty());
    }

    #[test]
    fn quiet_when_the_old_name_stays_as_a_view() {
        let sql = "ALTER TABLE comments RENAME TO ticket_comments;\n\
                   CREATE VIEW comments AS SELECT * FROM ticket_comments;\n";
        assert!(check(Rule::RenameTable, sql).is_empty());
    }
}
