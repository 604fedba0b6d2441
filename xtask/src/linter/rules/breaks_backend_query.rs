//! `breaks-backend-query`: the migration drops, renames or changes the type of a table, view,
//! column or function one of the backend's own queries uses, or sets NOT NULL on a column one of
//! its `INSERT`s leaves out, or drops the default such a NOT NULL column relies on.
//!
//! Why it matters: the backend version still running during the deploy (and after a rollback of
//! the new one) sends exactly the queries sqlx recorded in `.sqlx/`; each one that names what the
//! migration took away fails from the moment it commits. Unlike the rules that guess from the
//! statement alone, this one names the query that breaks. It reads `.sqlx/` of the nearest folder
//! above the migrations folder, and stays quiet when there is none (the application is unknown).
//! Objects this migration created are never reported, nor type changes made without a rewrite
//! (`no_rewrite_type_changes.txt`), which the running code reads as before.
//!
//! Safe way: expand/contract over several releases. Add the new beside the old
//! (`cargo xtask new --expand-contract rename-column|change-type|rename-table|set-not-null ...`
//! writes the database steps), release backend queries that use only the new (then regenerate
//! `.sqlx/` with `cargo sqlx prepare`), and remove the old in a later migration.

use pg_query::protobuf::{AlterTableType, DropStmt, ObjectType, RangeVar, RenameStmt};
use pg_query::NodeEnum;

use crate::linter::application::{Access, Query};
use crate::linter::catalog::ColumnType;
use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

use super::change_column_type::is_rewrite_free;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::MultiStep,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

/// One thing the migration takes from a query.
struct Break {
    /// `tickets.title`, `tickets`, `touch()`.
    object: String,
    /// How the queries use it: "is read by the backend's query ...".
    users: String,
    /// "renaming it".
    change: &'static str,
    help: String,
}

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    if context.application.is_none() {
        return Vec::new();
    }
    let breaks = match &statement.node {
        NodeEnum::DropStmt(drop) => drops(drop, context),
        NodeEnum::RenameStmt(rename) => renames(rename, context).into_iter().collect(),
        NodeEnum::AlterTableStmt(_) => column_changes(statement, context),
        _ => Vec::new(),
    };
    breaks
        .into_iter()
        .map(|found| {
            context.finding(
                Rule::BreaksBackendQuery,
                statement.start,
                format!(
                    "`{}` {}: {} breaks the backend version still running",
                    found.object, found.users, found.change
                ),
                found.help,
            )
        })
        .collect()
}

fn drops(drop: &DropStmt, context: &Context) -> Vec<Break> {
    let names = sql::dropped_names(drop).into_iter();
    match drop.remove_type() {
        ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview => names
            .filter(|name| !context.is_new_table_named(name))
            .filter_map(|name| {
                let users = used_by(context, |query| query.relation(&name))?;
                Some(removal(name, users))
            })
            .collect(),
        ObjectType::ObjectFunction | ObjectType::ObjectProcedure => names
            .filter(|name| !context.is_new_function(name))
            .filter_map(|name| {
                let users = called_by(context, &name)?;
                Some(removal(format!("{name}()"), users))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn renames(rename: &RenameStmt, context: &Context) -> Option<Break> {
    let new = &rename.newname;
    let (object, users, help) = match (rename.rename_type(), &rename.relation) {
        (ObjectType::ObjectTable, Some(table)) if !context.is_new_table(table) => {
            let users = used_by(context, |query| query.relation(&table.relname))?;
            let table = sql::qualified_name(table);
            let help = format!(
                "keep the old name working while both versions run: \
                 `cargo xtask new --expand-contract rename-table {table} {new}` writes the rename \
                 with an updatable view under the old name, and the contract that drops the view \
                 once released backend queries use `{new}`"
            );
            (table, users, help)
        }
        (ObjectType::ObjectView | ObjectType::ObjectMatview, Some(view))
            if !context.is_new_table(view) =>
        {
            let users = used_by(context, |query| query.relation(&view.relname))?;
            (
                sql::qualified_name(view),
                users,
                beside(&view.relname, new),
            )
        }
        (ObjectType::ObjectColumn, Some(table))
            if !context.is_new_column(table, &rename.subname) =>
        {
            let column = &rename.subname;
            let users = used_by(context, |query| {
                column_use(query, context, table, column)
            })?;
            let table = sql::qualified_name(table);
            let help = scaffolded(&format!("rename-column {table}.{column} {new}"), new);
            (format!("{table}.{column}"), users, help)
        }
        (ObjectType::ObjectFunction | ObjectType::ObjectProcedure, _) => {
            let Some(NodeEnum::ObjectWithArgs(function)) =
                rename.object.as_deref().and_then(|object| object.node.as_ref())
            else {
                return None;
            };
            let name = sql::last_name(&function.objname)?;
            if context.is_new_function(name) {
                return None;
            }
            (format!("{name}()"), called_by(context, name)?, beside(name, new))
        }
        _ => return None,
    };
    Some(Break {
        object,
        users,
        change: "renaming it",
        help,
    })
}

fn column_changes(statement: &Statement, context: &Context) -> Vec<Break> {
    let mut breaks = Vec::new();
    for (relation, command) in sql::alter_table_commands(&statement.node) {
        let column = &command.name;
        if context.is_new_column(relation, column) {
            continue;
        }
        let table = sql::qualified_name(relation);
        let object = format!("{table}.{column}");
        let uses = |query: &Query| column_use(query, context, relation, column);
        match (command.subtype(), command.def.as_deref().and_then(|def| def.node.as_ref())) {
            (AlterTableType::AtDropColumn, _) => {
                breaks.extend(used_by(context, uses).map(|users| removal(object, users)));
            }
            (AlterTableType::AtAlterColumnType, Some(NodeEnum::ColumnDef(change))) => {
                let Some(new_type) = change.type_name.as_ref().map(ColumnType::of) else {
                    continue;
                };
                let old_type = context.catalog.column_type(&relation.relname, column);
                // Without `USING` and without a rewrite, the running code reads what it read.
                if change.raw_default.is_none()
                    && old_type.is_some_and(|old| is_rewrite_free(old, &new_type))
                {
                    continue;
                }
                breaks.extend(used_by(context, uses).map(|users| Break {
                    object,
                    users,
                    change: "changing its type",
                    help: scaffolded(
                        &format!("change-type {table}.{column} {new_type}"),
                        &format!("{column}_new"),
                    ),
                }));
            }
            (AlterTableType::AtSetNotNull, _)
                if !context.catalog.has_default(&relation.relname, column) =>
            {
                let help = format!(
                    "first release backend code whose INSERTs into `{table}` set `{column}` (or \
                     give it a default: `ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT \
                     ...`), then set it NOT NULL in a later migration: `cargo xtask new \
                     --expand-contract set-not-null {table}.{column}`"
                );
                breaks.extend(required_value(context, relation, column, "SET NOT NULL", help));
            }
            // `DROP DEFAULT` carries no expression.
            (AlterTableType::AtColumnDefault, None)
                if context.catalog.proves_not_null(&relation.relname, column) =>
            {
                let help = format!(
                    "keep the default until released backend code sets `{column}` in its INSERTs \
                     into `{table}`, then drop it in a later migration"
                );
                breaks.extend(required_value(context, relation, column, "DROP DEFAULT", help));
            }
            _ => {}
        }
    }
    breaks
}

/// A change after which `INSERT`s into `table` must set `column`: it breaks the
/// backend's `INSERT`s that leave the column out.
fn required_value(
    context: &Context,
    table: &RangeVar,
    column: &str,
    change: &'static str,
    help: String,
) -> Option<Break> {
    let users = describe_users(context, |query| {
        query
            .inserts_without(&table.relname, column)
            .then_some("is left out by")
    })?;
    Some(Break {
        object: format!("{}.{column}", sql::qualified_name(table)),
        users,
        change,
        help,
    })
}

/// How `query` uses `table.column`, placing its unqualified columns with the catalog.
fn column_use(query: &Query, context: &Context, table: &RangeVar, column: &str) -> Option<Access> {
    query.column(&table.relname, column, |table, column| {
        context.catalog.column_type(table, column).is_some()
    })
}

/// A change the expand/contract scaffold writes; `new` is what the queries move to.
fn scaffolded(command: &str, new: &str) -> String {
    format!(
        "do it as expand/contract, each step released before the next: `cargo xtask new \
         --expand-contract {command}` writes the database steps; between them, release backend \
         queries that use only `{new}` (and regenerate `.sqlx/` with `cargo sqlx prepare`)"
    )
}

/// The last step of expand/contract, taken before the backend stopped using the object.
fn removal(object: String, users: String) -> Break {
    let help = format!(
        "this is the last step of expand/contract: first release backend code that no longer \
         uses `{object}` (and regenerate `.sqlx/` with `cargo sqlx prepare`), then remove it in a \
         later migration"
    );
    Break {
        object,
        users,
        change: "dropping it",
        help,
    }
}

/// Expand/contract for an object renamed by creating its successor.
fn beside(old: &str, new: &str) -> String {
    format!(
        "create `{new}` beside `{old}` (same definition), release backend queries that use \
         `{new}` (and regenerate `.sqlx/` with `cargo sqlx prepare`), then drop `{old}` in a \
         later migration"
    )
}

/// "is read by the backend's query `...` (.sqlx/...)", naming the first query `uses` finds and
/// counting the others; `None` when no query uses the object.
fn used_by(context: &Context, uses: impl Fn(&Query) -> Option<Access>) -> Option<String> {
    describe_users(context, |query| {
        uses(query).map(|access| match access {
            Access::Reads => "is read by",
            Access::Writes => "is written by",
        })
    })
}

fn called_by(context: &Context, function: &str) -> Option<String> {
    describe_users(context, |query| query.calls(function).then_some("is called by"))
}

fn describe_users(
    context: &Context,
    verb: impl Fn(&Query) -> Option<&'static str>,
) -> Option<String> {
    let mut users = context
        .application?
        .queries()
        .iter()
        .filter_map(|query| verb(query).map(|verb| (query, verb)));
    let (first, verb) = users.next()?;
    let more = match users.count() {
        0 => String::new(),
        1 => " and 1 other query".to_owned(),
        others => format!(" and {others} other queries"),
    };
    Some(format!(
        "{verb} the backend's query `{}` ({}){more}",
        first.first_line, first.file
    ))
}

#[cfg(test)]
mod tests {
    use crate::linter::application::test_support::application;
    use crate::linter::context::test_support::{check_after, check_with_application, positions, rendered};
    use crate::linter::rule::Rule;

    const EARLIER: &str = "CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY, \
                           title varchar(100), status text DEFAULT 'open', due date, legacy text);\n\
                           CREATE TABLE queues (id bigint, name text);\n\
                           CREATE VIEW open_tickets AS SELECT id, title FROM tickets;\n\
                           CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS 'SELECT 1';\n";

    const QUERIES: &[&str] = &[
        "SELECT t.id, t.title, touch()\n FROM tickets t WHERE t.id = $1",
        "INSERT INTO tickets (title) VALUES ($1) RETURNING id",
        "SELECT id FROM open_tickets",
    ];

    fn lint(sql: &str) -> Vec<crate::linter::finding::Finding> {
        check_with_application(
            Rule::BreaksBackendQuery,
            EARLIER,
            sql,
            &application(QUERIES),
        )
    }

    #[test]
    fn names_the_query_that_breaks() {
        let findings = lint("ALTER TABLE tickets RENAME COLUMN title TO subject;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        assert_eq!(
            findings[0].message,
            "`tickets.title` is read by the backend's query `SELECT t.id, t.title, touch() ...` \
             (.sqlx/query-0.json) and 1 other query: renaming it breaks the backend version still running"
        );
        assert!(
            findings[0]
                .help
                .contains("cargo xtask new --expand-contract rename-column tickets.title subject"),
            "{}",
            findings[0].help
        );
    }

    #[test]
    fn fires_on_each_way_of_taking_something_away() {
        let sql = "DROP VIEW open_tickets;\n\
                   ALTER TABLE tickets DROP COLUMN title;\n\
                   ALTER TABLE tickets ALTER COLUMN id TYPE int;\n\
                   DROP FUNCTION touch();\n\
                   ALTER TABLE tickets ALTER COLUMN due SET NOT NULL;\n\
                   ALTER TABLE tickets RENAME TO issues;\n";
        let findings = lint(sql);
        assert_eq!(
            positions(&findings),
            [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]
        );
        assert!(findings[1].message.contains("dropping it"), "{}", findings[1].message);
        assert!(findings[3].message.starts_with("`touch()` is called by"));
        assert!(
            findings[4].message.starts_with(
                "`tickets.due` is left out by the backend's query `INSERT INTO tickets (title)"
            ),
            "{}",
            findings[4].message
        );
        assert!(findings[5].help.contains("rename-table tickets issues"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn fires_on_drop_default_of_a_not_null_column_an_insert_leaves_out() {
        let sql = "ALTER TABLE tickets ALTER COLUMN status SET NOT NULL;\n\
                   ALTER TABLE tickets ALTER COLUMN status DROP DEFAULT;\n\
                   ALTER TABLE tickets ALTER COLUMN due DROP DEFAULT;\n\
                   ALTER TABLE tickets ALTER COLUMN title SET NOT NULL, ALTER COLUMN title DROP DEFAULT;\n";
        let findings = lint(sql);
        // `due` may be NULL; `title` is set by the INSERT.
        assert_eq!(positions(&findings), [(2, 1)]);
        assert!(
            findings[0].message.starts_with(
                "`tickets.status` is left out by the backend's query `INSERT INTO tickets (title)"
            ),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.ends_with("DROP DEFAULT breaks the backend version still running"));
        assert!(findings[0].help.contains("keep the default"), "{}", findings[0].help);
    }

    #[test]
    fn quiet_on_what_no_query_uses_what_is_new_and_compatible_changes() {
        let sql = "ALTER TABLE tickets DROP COLUMN legacy;\n\
                   ALTER TABLE queues RENAME COLUMN name TO title;\n\
                   ALTER TABLE tickets ALTER COLUMN title TYPE text;\n\
                   ALTER TABLE tickets ALTER COLUMN status SET NOT NULL;\n\
                   ALTER TABLE tickets ADD COLUMN note text;\n\
                   ALTER TABLE tickets RENAME COLUMN note TO remark;\n\
                   CREATE TABLE scratch (title text);\nDROP TABLE scratch;\n";
        assert!(lint(sql).is_empty(), "{:?}", lint(sql));
    }

    #[test]
    fn quiet_when_the_application_is_unknown() {
        let sql = "ALTER TABLE tickets RENAME COLUMN title TO subject;\n";
        assert!(check_after(Rule::BreaksBackendQuery, EARLIER, sql).is_empty());
    }
}
