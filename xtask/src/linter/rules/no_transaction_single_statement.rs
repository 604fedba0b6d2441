//! `no-transaction-single-statement`: a `-- xtask: no-transaction` migration with more than one
//! statement.
//!
//! Why it matters: without a transaction nothing is all-or-nothing. If the second statement
//! fails, the first stays applied and the migration can neither be retried cleanly nor rolled
//! back. PostgreSQL also runs a multi-statement script as one implicit transaction block, where
//! `CREATE INDEX CONCURRENTLY` is refused.
//!
//! Safe way: one statement per no-transaction migration; the other statements go in ordinary
//! migrations before or after it.

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Broken,
    check: Check::File(check),
    trace: TraceRole::Static,
};

fn check(context: &Context) -> Vec<Finding> {
    let statements = &context.parsed.statements;
    match statements.get(1) {
        Some(second) if context.no_transaction() => vec![context.finding(
            Rule::NoTransactionSingleStatement,
            second.start,
            format!(
                "this no-transaction migration has {} statements: if one fails, those before it stay applied",
                statements.len()
            ),
            "keep only the statement that needs no transaction here; move the others to \
             ordinary migrations before or after it"
                .into(),
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_at_the_second_statement() {
        let sql = "-- xtask: no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON a (b);\n\
                   CREATE INDEX CONCURRENTLY b_idx ON a (c);\n";
        let findings = check(Rule::NoTransactionSingleStatement, sql);
        assert_eq!(positions(&findings), [(3, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_one_statement_or_in_a_transaction() {
        let sql = "-- xtask: no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON a (b);\n";
        assert!(check(Rule::NoTransactionSingleStatement, sql).is_empty());
        let sql = "CREATE TABLE a (id int);\nCREATE INDEX a_idx ON a (id);\n";
        assert!(check(Rule::NoTransactionSingleStatement, sql).is_empty());
    }
}
