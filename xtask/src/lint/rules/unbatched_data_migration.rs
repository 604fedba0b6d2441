//! `unbatched-data-migration`: an `UPDATE` or `DELETE` of a whole existing table (no `WHERE`,
//! or a `WHERE` that only tests for NULL, as in `WHERE new_column IS NULL`), or an
//! `INSERT ... SELECT` copying a whole existing table.
//!
//! Why it matters: the engine runs a migration in one transaction, so every touched row stays
//! locked until it commits: the running application's writes to those rows wait, the table
//! bloats with dead rows, and replicas fall behind. On a large table that is minutes of blocked
//! writes.
//!
//! Safe way: migrate in batches of a few thousand rows by key range, each committed on its own:
//! a `-- xtask: no-transaction` migration whose DO block loops and COMMITs after each batch, or a
//! backfill job outside the migrations. A targeted fix (`WHERE id = 42`, `WHERE status = 'x'`) is
//! not reported.

use pg_query::protobuf::SelectStmt;
use pg_query::{Node, NodeEnum, NodeRef};

use crate::lint::context::Context;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Check, Class, Rule, Spec};
use crate::lint::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let (verb, table, filter) = match &statement.node {
        NodeEnum::UpdateStmt(update) => ("UPDATE", &update.relation, &update.where_clause),
        NodeEnum::DeleteStmt(delete) => ("DELETE", &delete.relation, &delete.where_clause),
        NodeEnum::InsertStmt(insert) => {
            return match insert.select_stmt.as_deref() {
                Some(Node {
                    node: Some(NodeEnum::SelectStmt(select)),
                }) => copied_table(select, context)
                    .map(|source| finding(statement, context, "INSERT ... SELECT", &source))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
        }
        _ => return Vec::new(),
    };
    match table {
        Some(table) if !context.is_new_table(table) && selects_every_row(filter.as_deref()) => {
            vec![finding(statement, context, verb, &sql::qualified_name(table))]
        }
        _ => Vec::new(),
    }
}

fn finding(statement: &Statement, context: &Context, verb: &str, table: &str) -> Finding {
    context.finding(
        Rule::UnbatchedDataMigration,
        statement.start,
        format!(
            "{verb} over every row of `{table}` in one transaction: each row stays locked until the migration commits"
        ),
        format!(
            "migrate in batches by key range, each committed on its own, e.g. in a \
             `-- xtask: no-transaction` migration:\n\
             DO $$ DECLARE start bigint := 0; BEGIN\n  \
             WHILE start <= (SELECT max(id) FROM {table}) LOOP\n    \
             {verb} ... WHERE id >= start AND id < start + 5000;\n    \
             COMMIT; start := start + 5000;\n  \
             END LOOP;\nEND $$;"
        ),
    )
}

/// No filter, or one that only tests for NULL: on a backfill that is every row still to do.
fn selects_every_row(filter: Option<&Node>) -> bool {
    let Some(filter) = filter.and_then(|node| node.node.as_ref()) else {
        return true;
    };
    filter.nodes().into_iter().all(|(node, ..)| {
        matches!(
            node,
            NodeRef::BoolExpr(_) | NodeRef::NullTest(_) | NodeRef::BooleanTest(_) | NodeRef::ColumnRef(_)
        )
    })
}

/// The existing table an `INSERT ... SELECT` copies whole: no WHERE, no LIMIT.
fn copied_table(select: &SelectStmt, context: &Context) -> Option<String> {
    if select.where_clause.is_some() || select.limit_count.is_some() {
        return None;
    }
    select.from_clause.iter().find_map(|item| match &item.node {
        Some(NodeEnum::RangeVar(table)) if !context.is_new_table(table) => {
            Some(sql::qualified_name(table))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::context::test_support::{check, positions};
    use crate::lint::rule::Rule;

    #[test]
    fn fires_on_whole_table_changes() {
        let sql = "UPDATE tickets SET priority = 2;\n\
                   UPDATE tickets SET subject = title WHERE subject IS NULL;\n\
                   DELETE FROM comments;\n\
                   INSERT INTO archive SELECT * FROM tickets;\n";
        let findings = check(Rule::UnbatchedDataMigration, sql);
        assert_eq!(positions(&findings), [(1, 1), (2, 1), (3, 1), (4, 1)]);
        assert!(findings[3].message.contains("`tickets`"));
    }

    #[test]
    fn quiet_on_batches_targeted_fixes_seeds_and_new_tables() {
        let sql = "UPDATE tickets SET subject = title WHERE id >= 0 AND id < 5000;\n\
                   DELETE FROM users WHERE email = 'test@example.com';\n\
                   INSERT INTO queues (name) VALUES ('billing');\n\
                   INSERT INTO archive SELECT * FROM tickets WHERE id < 5000;\n\
                   CREATE TABLE a (id int);\nUPDATE a SET id = 1;\n";
        assert!(check(Rule::UnbatchedDataMigration, sql).is_empty());
    }
}
