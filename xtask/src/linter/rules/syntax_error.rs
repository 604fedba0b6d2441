//! `syntax-error`: a statement PostgreSQL's parser refuses.
//!
//! Why it matters: the migration fails at this statement when it runs. In a transaction nothing of
//! it is applied; with `-- xtask: no-transaction` everything before it stays applied.
//!
//! The check uses libpg_query, PostgreSQL's own parser, so anything PostgreSQL accepts (DO blocks,
//! functions, `DROP INDEX CONCURRENTLY`, ...) passes. The other statements of the file are still
//! linted.
//!
//! Safe way: fix the statement; the message is PostgreSQL's own.

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
    context
        .parsed
        .syntax_errors
        .iter()
        .map(|error| {
            context.finding(
                Rule::SyntaxError,
                error.offset,
                format!("PostgreSQL cannot parse this: {}", error.message),
                "fix the statement; the migration would fail here".into(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_where_the_statement_goes_wrong() {
        let findings = check(
            Rule::SyntaxError,
            "-- Purpose: x\nCREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b text NOT NUL;\n",
        );
        assert_eq!(positions(&findings), [(3, 37)]);
        assert!(
            findings[0].message.contains("NUL"),
            "{}",
            findings[0].message
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_sql_postgresql_accepts() {
        let sql = "DO $$ BEGIN PERFORM 1; END $$;\nDROP INDEX CONCURRENTLY a_idx;\n";
        assert!(check(Rule::SyntaxError, sql).is_empty());
    }
}
