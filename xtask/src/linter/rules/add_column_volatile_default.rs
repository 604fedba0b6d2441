//! `add-column-volatile-default`: `ADD COLUMN` on an existing table with a volatile default
//! (`gen_random_uuid()`, `random()`, `clock_timestamp()`, a user function) or as a `STORED`
//! generated column.
//!
//! Why it matters: PostgreSQL 11+ adds a column with a constant or non-volatile default (`now()`,
//! `'open'`) by storing the value in the catalog. A volatile default or stored expression must be
//! computed per row, so the whole table is rewritten under an ACCESS EXCLUSIVE lock: no reads,
//! no writes until it finishes.
//!
//! Safe way: add the column without the default, set the default in a second statement (it
//! applies to new rows only), and backfill existing rows in batches.
//!
//! The functions known not to be volatile are listed in `rules/non_volatile_functions.txt`.

use std::collections::HashSet;
use std::sync::OnceLock;

use pg_query::protobuf::ConstrType;
use pg_query::{Node, NodeRef};

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

fn non_volatile_functions() -> &'static HashSet<&'static str> {
    static FUNCTIONS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        include_str!("non_volatile_functions.txt")
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|name| !name.is_empty())
            .collect()
    })
}

/// The first function in `expression` not known to be non-volatile.
fn volatile_call(expression: &Node) -> Option<String> {
    let node = expression.node.as_ref()?;
    node.nodes().into_iter().find_map(|(node, ..)| match node {
        NodeRef::FuncCall(call) => {
            let name = sql::last_name(&call.funcname).unwrap_or_default();
            (!non_volatile_functions().contains(name)).then(|| format!("{name}()"))
        }
        _ => None,
    })
}

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (table, command) in sql::alter_table_commands(&statement.node) {
        let Some(column) = sql::added_column(command) else {
            continue;
        };
        if context.is_new_table(table) {
            continue;
        }
        for constraint in sql::column_constraints(column) {
            let (what, expression) = match constraint.contype() {
                ConstrType::ConstrDefault => {
                    match constraint.raw_expr.as_deref().and_then(volatile_call) {
                        Some(call) => (format!("the volatile default {call}"), call),
                        None => continue,
                    }
                }
                ConstrType::ConstrGenerated if constraint.generated_kind != "v" => (
                    "a STORED generated value".to_owned(),
                    "<expression>".to_owned(),
                ),
                _ => continue,
            };
            let (table, name) = (sql::qualified_name(table), &column.colname);
            findings.push(context.finding(
                Rule::AddColumnVolatileDefault,
                sql::location_or(constraint.location, statement),
                format!(
                    "adding `{table}.{name}` with {what} rewrites the whole table under an ACCESS EXCLUSIVE lock"
                ),
                format!(
                    "add it without that default, set the default for new rows separately, then \
                     backfill existing rows in batches:\n\
                     ALTER TABLE {table} ADD COLUMN {name} ...;\n\
                     ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {expression};"
                ),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_volatile_defaults_and_stored_generated_columns() {
        let sql = "ALTER TABLE tickets ADD COLUMN uid uuid DEFAULT gen_random_uuid();\n\
                   ALTER TABLE tickets ADD COLUMN n int DEFAULT (random() * 10)::int;\n\
                   ALTER TABLE tickets ADD COLUMN t tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED;\n";
        let findings = check(Rule::AddColumnVolatileDefault, sql);
        assert_eq!(positions(&findings), [(1, 41), (2, 38), (3, 43)]);
        assert!(findings[0].message.contains("gen_random_uuid()"));
        assert!(findings[1].message.contains("random()"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_constant_and_stable_defaults_and_new_tables() {
        let sql = "ALTER TABLE tickets ADD COLUMN state text DEFAULT 'open';\n\
                   ALTER TABLE tickets ADD COLUMN at timestamptz NOT NULL DEFAULT now();\n\
                   ALTER TABLE tickets ADD COLUMN d date DEFAULT CURRENT_DATE;\n\
                   ALTER TABLE tickets ADD COLUMN l text DEFAULT lower('X');\n\
                   CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN u uuid DEFAULT gen_random_uuid();\n";
        assert!(check(Rule::AddColumnVolatileDefault, sql).is_empty());
    }
}
