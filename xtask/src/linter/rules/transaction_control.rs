//! `transaction-control`: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT` and friends inside a
//! migration.
//!
//! Why it matters: the engine runs each migration in its own transaction and records its history
//! row in that same transaction. A `COMMIT` in the file ends the engine's transaction early: what
//! follows runs unprotected, and the history row is no longer atomic with the change (the engine
//! notices and fails the migration, after the fact). A `BEGIN` is ignored with a warning, and its
//! matching `COMMIT` then does the damage.
//!
//! Safe way: remove it. For statements that cannot run in a transaction (`CREATE INDEX
//! CONCURRENTLY`), mark the file `-- xtask: no-transaction` and keep that statement alone in it.

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::Statement;
use pg_query::NodeEnum;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Broken,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::TransactionStmt(_) = &statement.node else {
        return Vec::new();
    };
    let keyword: String = context.file.sql[statement.start..]
        .split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .unwrap_or_default()
        .to_uppercase();
    vec![context.finding(
        Rule::TransactionControl,
        statement.start,
        format!(
            "`{keyword}` inside a migration interferes with the transaction the engine runs it in"
        ),
        "remove it: the engine wraps each migration in a transaction with its history row; \
         statements that cannot run in one go alone in a `-- xtask: no-transaction` file"
            .into(),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_every_transaction_statement() {
        let sql = "BEGIN;\nCREATE TABLE a (id int);\nSAVEPOINT s;\nCOMMIT;\n";
        let findings = check(Rule::TransactionControl, sql);
        assert_eq!(positions(&findings), [(1, 1), (3, 1), (4, 1)]);
        assert!(findings[2].message.contains("`COMMIT`"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_plain_statements_and_do_blocks() {
        let sql = "CREATE TABLE a (id int);\nDO $$ BEGIN PERFORM 1; END $$;\n";
        assert!(check(Rule::TransactionControl, sql).is_empty());
    }
}
