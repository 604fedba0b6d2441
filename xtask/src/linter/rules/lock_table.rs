//! `lock-table`: an explicit `LOCK TABLE` in a mode that blocks writes (SHARE or stronger; the
//! default is ACCESS EXCLUSIVE).
//!
//! Why it matters: the lock is held until the migration commits, so every write (and, in ACCESS
//! EXCLUSIVE mode, every read) of the table waits for the whole migration.
//!
//! Safe way: let each statement take the lock it needs, briefly; the engine already sets
//! `lock_timeout` so a migration never queues traffic behind a lock it waits for.

use pg_query::{LockMode, NodeEnum};

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
    let NodeEnum::LockStmt(lock) = &statement.node else {
        return Vec::new();
    };
    if lock.mode < LockMode::ShareLock as i32 {
        return Vec::new();
    }
    lock.relations
        .iter()
        .filter_map(|relation| match &relation.node {
            Some(NodeEnum::RangeVar(table)) if !context.is_new_table(table) => Some(table),
            _ => None,
        })
        .map(|table| {
            context.finding(
                Rule::LockTable,
                statement.start,
                format!(
                    "LOCK TABLE blocks writes to `{}` until the migration commits",
                    sql::qualified_name(table)
                ),
                "remove it: each statement takes the lock it needs, briefly, and the engine's \
                 lock_timeout keeps traffic from queueing behind it"
                    .into(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_blocking_lock_modes() {
        let sql = "LOCK TABLE tickets;\nLOCK TABLE users IN SHARE MODE;\n";
        let findings = check(Rule::LockTable, sql);
        assert_eq!(positions(&findings), [(1, 1), (2, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_modes_that_let_writes_through() {
        let sql = "LOCK TABLE tickets IN ACCESS SHARE MODE;\nLOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;\n";
        assert!(check(Rule::LockTable, sql).is_empty());
    }
}
