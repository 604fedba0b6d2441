//! `change-column-type`: `ALTER COLUMN ... TYPE` on an existing table, unless the change is one
//! PostgreSQL makes without rewriting the table.
//!
//! Why it matters: most type changes rewrite the whole table and rebuild its indexes under an
//! ACCESS EXCLUSIVE lock (no reads, no writes until done), and the running application, which
//! reads the column with the old type, may fail on the new one (an `int4` read into a 32-bit
//! integer, text that no longer fits).
//!
//! The changes that need no rewrite (widening `varchar(n)`, `varchar` to `text`, ...) are listed
//! in `rules/no_rewrite_type_changes.txt`; the linter knows the old type from the earlier
//! migrations, and reports a change whose old type it cannot know.
//!
//! Safe way: the strategy's multi-step change, spelt out in the finding for that column: add a
//! new column of the new type, write both, backfill in batches, switch reads, drop the old one.

use std::sync::OnceLock;

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use crate::linter::catalog::ColumnType;
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
    let mut findings = Vec::new();
    for (relation, command) in sql::alter_table_commands(&statement.node) {
        let Some(NodeEnum::ColumnDef(change)) =
            command.def.as_deref().and_then(|def| def.node.as_ref())
        else {
            continue;
        };
        if command.subtype() != AlterTableType::AtAlterColumnType || context.is_new_table(relation)
        {
            continue;
        }
        let Some(new_type) = change.type_name.as_ref().map(ColumnType::of) else {
            continue;
        };
        let column = &command.name;
        let old_type = context.catalog.column_type(&relation.relname, column);
        // `USING` computes every row anew: always a rewrite.
        let using = change.raw_default.is_some();
        if !using && old_type.is_some_and(|old| is_rewrite_free(old, &new_type)) {
            continue;
        }
        let table = sql::qualified_name(relation);
        let change = match old_type {
            Some(old) => format!("from {old} to {new_type}"),
            None => format!("to {new_type}"),
        };
        let steps = ExpandContract {
            add: format!("ALTER TABLE {table} ADD COLUMN {column}_new {new_type};"),
            dual_write: format!(
                "release code that writes both `{column}` and `{column}_new` (or a trigger that converts `{column}` into `{column}_new`)"
            ),
            backfill: format!(
                "UPDATE {table} SET {column}_new = {column}::{new_type} WHERE id >= :start AND id < :start + 5000;"
            ),
            switch_reads: format!(
                "release code that reads `{column}_new` only, then stop writing `{column}`"
            ),
            remove: format!(
                "ALTER TABLE {table} DROP COLUMN {column};  -- with `-- xtask: allow drop-column -- reason`"
            ),
        };
        findings.push(context.finding(
            Rule::ChangeColumnType,
            statement.start,
            format!(
                "changing `{table}.{column}` {change} rewrites the table under an ACCESS EXCLUSIVE lock and changes what the running application reads"
            ),
            steps.help(),
        ));
    }
    findings
}

/// One line of `no_rewrite_type_changes.txt`: `from -> to`.
struct Change {
    from: Pattern,
    to: Pattern,
}

/// `varchar(n)`, `numeric(>=p,s)`, `text`.
struct Pattern {
    name: String,
    modifiers: Option<Vec<String>>,
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        match text.trim().split_once('(') {
            Some((name, modifiers)) => Pattern {
                name: name.trim().to_owned(),
                modifiers: Some(
                    modifiers
                        .trim_end_matches(')')
                        .split(',')
                        .map(|modifier| modifier.trim().to_owned())
                        .collect(),
                ),
            },
            None => Pattern {
                name: text.trim().to_owned(),
                modifiers: None,
            },
        }
    }

    fn arity(&self) -> usize {
        self.modifiers.as_ref().map_or(0, Vec::len)
    }
}

fn changes() -> &'static [Change] {
    static CHANGES: OnceLock<Vec<Change>> = OnceLock::new();
    CHANGES.get_or_init(|| {
        include_str!("no_rewrite_type_changes.txt")
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .filter_map(|line| line.split_once("->"))
            .map(|(from, to)| Change {
                from: Pattern::parse(from),
                to: Pattern::parse(to),
            })
            .collect()
    })
}

pub(crate) fn is_rewrite_free(old: &ColumnType, new: &ColumnType) -> bool {
    if old.array != new.array {
        return false;
    }
    if old == new {
        return true;
    }
    changes().iter().any(|change| {
        if change.from.name != old.name
            || change.to.name != new.name
            || change.from.arity() != old.modifiers.len()
            || change.to.arity() != new.modifiers.len()
        {
            return false;
        }
        let bound: Vec<(&str, i64)> = change
            .from
            .modifiers
            .iter()
            .flatten()
            .map(String::as_str)
            .zip(old.modifiers.iter().copied())
            .collect();
        let value_of = |name: &str| {
            bound
                .iter()
                .find(|(bound, _)| *bound == name)
                .map(|(_, value)| *value)
        };
        change
            .to
            .modifiers
            .iter()
            .flatten()
            .zip(&new.modifiers)
            .all(|(pattern, &new_value)| match pattern.strip_prefix(">=") {
                Some(name) => value_of(name).is_some_and(|old_value| new_value >= old_value),
                None => value_of(pattern) == Some(new_value),
            })
    })
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_after, positions, rendered};
    use crate::linter::rule::Rule;

    const EARLIER: &str =
        "CREATE TABLE tickets (id bigint, priority int, title varchar(100), price numeric(10, 2), note text);";

    #[test]
    fn fires_on_rewriting_changes_with_the_five_steps() {
        let sql = "ALTER TABLE tickets ALTER COLUMN priority TYPE bigint;\n\
                   ALTER TABLE tickets ALTER COLUMN title TYPE varchar(50);\n\
                   ALTER TABLE tickets ALTER COLUMN note TYPE varchar(20);\n\
                   ALTER TABLE tickets ALTER COLUMN price TYPE numeric(12, 3);\n\
                   ALTER TABLE tickets ALTER COLUMN title TYPE text USING upper(title);\n";
        let findings = check_after(Rule::ChangeColumnType, EARLIER, sql);
        assert_eq!(
            positions(&findings),
            [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]
        );
        assert!(
            findings[0].message.contains("from int4 to int8"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].help.contains(
                "1. add the new beside the old: ALTER TABLE tickets ADD COLUMN priority_new int8;"
            ),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn fires_when_the_old_type_is_unknown() {
        let findings = check(
            Rule::ChangeColumnType,
            "ALTER TABLE t ALTER COLUMN c TYPE text;\n",
        );
        assert!(findings[0].message.contains("to text"));
    }

    #[test]
    fn quiet_on_changes_without_rewrite_and_on_new_tables() {
        let sql = "ALTER TABLE tickets ALTER COLUMN title TYPE varchar(200);\n\
                   ALTER TABLE tickets ALTER COLUMN title TYPE text;\n\
                   ALTER TABLE tickets ALTER COLUMN price TYPE numeric(14, 2);\n\
                   ALTER TABLE tickets ALTER COLUMN note TYPE varchar;\n\
                   CREATE TABLE a (b int);\nALTER TABLE a ALTER COLUMN b TYPE bigint;\n";
        assert!(check_after(Rule::ChangeColumnType, EARLIER, sql).is_empty());
    }
}
