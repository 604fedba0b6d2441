//! `unbatched-data-migration`: an `UPDATE`, `DELETE`, `MERGE` or `INSERT ... SELECT` on a table
//! that existed before this migration, with or without `WHERE`, also inside `WITH` queries,
//! outside a batched migration (`-- xtask: batched TABLE KEY`). `INSERT ... VALUES` of constants
//! is not reported.
//!
//! Why it matters: the engine runs a migration in one transaction, so every touched row stays
//! locked until it commits: the running application's writes to those rows wait, the table
//! bloats with dead rows, and replicas fall behind. A `WHERE` does not say how many rows match
//! (`WHERE status = 'open'` may be most of the table), so the linter cannot tell a one-row fix
//! from minutes of blocked writes.
//!
//! Safe way: a batched migration: `-- xtask: batched TABLE KEY` and one statement that changes
//! the rows whose key is in `($1, $2]`; the engine commits each batch on its own. A targeted fix
//! that touches a few rows through a unique index is cleared by `cargo xtask lint --trace`, which
//! sees how many rows it touched and how; otherwise acknowledge it with
//! `-- xtask: allow unbatched-data-migration -- touches one row`.

use pg_query::protobuf::{RangeVar, WithClause};
use pg_query::{Node, NodeEnum};

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Rows,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    if context.file.directives.batched.is_some() || context.in_batches {
        return Vec::new();
    }
    data_changes(&statement.node)
        .into_iter()
        .filter(|(_, table)| !context.is_new_table(table))
        .map(|(verb, table)| finding(statement, context, verb, &sql::qualified_name(table)))
        .collect()
}

/// The tables a statement changes rows of, including in its `WITH` queries.
fn data_changes(node: &NodeEnum) -> Vec<(&'static str, &RangeVar)> {
    let (change, with) = match node {
        NodeEnum::UpdateStmt(update) => (
            update.relation.as_ref().map(|table| ("UPDATE", table)),
            &update.with_clause,
        ),
        NodeEnum::DeleteStmt(delete) => (
            delete.relation.as_ref().map(|table| ("DELETE", table)),
            &delete.with_clause,
        ),
        NodeEnum::MergeStmt(merge) => (
            merge.relation.as_ref().map(|table| ("MERGE", table)),
            &merge.with_clause,
        ),
        NodeEnum::InsertStmt(insert) => (
            insert
                .relation
                .as_ref()
                .filter(|_| !inserts_values(insert.select_stmt.as_deref()))
                .map(|table| ("INSERT ... SELECT", table)),
            &insert.with_clause,
        ),
        NodeEnum::SelectStmt(select) => (None, &select.with_clause),
        _ => return Vec::new(),
    };
    change
        .into_iter()
        .chain(queries(with).flat_map(data_changes))
        .collect()
}

fn queries(with: &Option<WithClause>) -> impl Iterator<Item = &NodeEnum> {
    with.iter()
        .flat_map(|with| &with.ctes)
        .filter_map(|cte| match &cte.node {
            Some(NodeEnum::CommonTableExpr(cte)) => cte.ctequery.as_deref()?.node.as_ref(),
            _ => None,
        })
}

/// `VALUES (...)` (or `DEFAULT VALUES`): rows written out in the migration, not read from a table.
fn inserts_values(source: Option<&Node>) -> bool {
    match source.and_then(|node| node.node.as_ref()) {
        None => true,
        Some(NodeEnum::SelectStmt(select)) => !select.values_lists.is_empty(),
        Some(_) => false,
    }
}

fn finding(statement: &Statement, context: &Context, verb: &str, table: &str) -> Finding {
    context.finding(
        Rule::UnbatchedDataMigration,
        statement.start,
        format!(
            "{verb} on `{table}` in one transaction: every row it touches stays locked until the migration commits, and nothing bounds how many that is"
        ),
        format!(
            "make it a batched migration, committed a key range at a time:\n\
             -- xtask: batched {table} id\n\
             {verb} ... WHERE id > $1 AND id <= $2;\n\
             a fix of a few rows through a unique index is cleared by `cargo xtask lint --trace`, \
             or acknowledged with `-- xtask: allow unbatched-data-migration -- touches one row`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_data_changes_with_or_without_where() {
        let sql = "UPDATE tickets SET priority = 2;\n\
                   UPDATE tickets SET subject = title WHERE subject IS NULL;\n\
                   DELETE FROM comments;\n\
                   INSERT INTO archive SELECT * FROM tickets;\n\
                   WITH moved AS (DELETE FROM sessions RETURNING *) INSERT INTO old SELECT * FROM moved;\n\
                   UPDATE tickets SET subject = title WHERE id >= 0 AND id < 5000;\n\
                   DELETE FROM users WHERE email = 'test@example.com';\n\
                   MERGE INTO tickets t USING incoming i ON t.id = i.id WHEN MATCHED THEN UPDATE SET title = i.title;\n";
        let findings = check(Rule::UnbatchedDataMigration, sql);
        assert_eq!(
            positions(&findings),
            [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (5, 1), (6, 1), (7, 1), (8, 1)]
        );
        assert!(findings[3].message.contains("`archive`"));
        assert!(
            findings[5].message.starts_with("DELETE on `sessions`"),
            "{}",
            findings[5].message
        );
        assert!(findings[8].message.starts_with("MERGE on `tickets`"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_constant_rows_new_tables_and_batched_migrations() {
        let sql = "INSERT INTO queues (name) VALUES ('billing');\n\
                   INSERT INTO queues DEFAULT VALUES;\n\
                   CREATE TABLE a (id int);\nUPDATE a SET id = 1;\n\
                   INSERT INTO a SELECT id FROM tickets;\n";
        assert!(check(Rule::UnbatchedDataMigration, sql).is_empty());
        let batched = "-- xtask: batched tickets id\n\
                       UPDATE tickets SET subject = title WHERE id > $1 AND id <= $2;\n";
        assert!(check(Rule::UnbatchedDataMigration, batched).is_empty());
    }
}
