//! `unbatched-data-migration`: an `UPDATE` or `DELETE` of a whole existing table (no `WHERE`,
//! or a `WHERE` that only tests for NULL, as in `WHERE new_column IS NULL`), or an
//! `INSERT ... SELECT` copying a whole existing table; also inside `WITH` queries.
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

use pg_query::protobuf::{RangeVar, SelectStmt, WithClause};
use pg_query::{Node, NodeEnum, NodeRef};

use crate::lint::context::Context;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::lint::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Rows,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    whole_table_changes(&statement.node, context)
        .into_iter()
        .map(|(verb, table)| finding(statement, context, verb, &table))
        .collect()
}

/// The whole-table changes a statement makes, including those in its `WITH` queries.
fn whole_table_changes(node: &NodeEnum, context: &Context) -> Vec<(&'static str, String)> {
    let (change, with) = match node {
        NodeEnum::UpdateStmt(update) => (
            filtered_change(
                "UPDATE",
                update.relation.as_ref(),
                update.where_clause.as_deref(),
                context,
            ),
            &update.with_clause,
        ),
        NodeEnum::DeleteStmt(delete) => (
            filtered_change(
                "DELETE",
                delete.relation.as_ref(),
                delete.where_clause.as_deref(),
                context,
            ),
            &delete.with_clause,
        ),
        NodeEnum::InsertStmt(insert) => {
            let copied = match insert.select_stmt.as_deref() {
                Some(Node {
                    node: Some(NodeEnum::SelectStmt(select)),
                }) => copied_table(select, insert.with_clause.as_ref(), context),
                _ => None,
            };
            (
                copied.map(|table| ("INSERT ... SELECT", table)),
                &insert.with_clause,
            )
        }
        NodeEnum::SelectStmt(select) => (None, &select.with_clause),
        _ => return Vec::new(),
    };
    let queries = with
        .iter()
        .flat_map(|with| &with.ctes)
        .filter_map(|cte| match &cte.node {
            Some(NodeEnum::CommonTableExpr(cte)) => cte.ctequery.as_deref()?.node.as_ref(),
            _ => None,
        });
    change
        .into_iter()
        .chain(queries.flat_map(|query| whole_table_changes(query, context)))
        .collect()
}

fn filtered_change(
    verb: &'static str,
    table: Option<&RangeVar>,
    filter: Option<&Node>,
    context: &Context,
) -> Option<(&'static str, String)> {
    let table = table.filter(|table| !context.is_new_table(table))?;
    selects_every_row(filter).then(|| (verb, sql::qualified_name(table)))
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
            NodeRef::BoolExpr(_)
                | NodeRef::NullTest(_)
                | NodeRef::BooleanTest(_)
                | NodeRef::ColumnRef(_)
        )
    })
}

/// The existing table an `INSERT ... SELECT` copies whole: no WHERE, no LIMIT.
fn copied_table(
    select: &SelectStmt,
    with: Option<&WithClause>,
    context: &Context,
) -> Option<String> {
    if select.where_clause.is_some() || select.limit_count.is_some() {
        return None;
    }
    let is_query_name = |name: &str| {
        [with, select.with_clause.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|with| &with.ctes)
            .any(|cte| matches!(&cte.node, Some(NodeEnum::CommonTableExpr(cte)) if cte.ctename == name))
    };
    select.from_clause.iter().find_map(|item| match &item.node {
        Some(NodeEnum::RangeVar(table))
            if !context.is_new_table(table) && !is_query_name(&table.relname) =>
        {
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
                   INSERT INTO archive SELECT * FROM tickets;\n\
                   WITH moved AS (DELETE FROM sessions RETURNING *) INSERT INTO old SELECT * FROM moved;\n";
        let findings = check(Rule::UnbatchedDataMigration, sql);
        assert_eq!(
            positions(&findings),
            [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]
        );
        assert!(findings[3].message.contains("`tickets`"));
        assert!(
            findings[4]
                .message
                .contains("DELETE over every row of `sessions`"),
            "{}",
            findings[4].message
        );
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
