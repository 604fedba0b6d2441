//! `unclassified-statement`: a statement whose kind the linter's tables (`linter/forms.rs`) do
//! not know: `COPY`, `CALL`, `ALTER EXTENSION`, `CREATE PUBLICATION`, `EXPLAIN ANALYZE` ...
//!
//! Why it matters: `deploy-db` runs a safe migration without a maintenance window, so a statement
//! the linter cannot judge must never count as safe by default: it may lock or rewrite a busy
//! table, and the first sign would be the outage.
//!
//! Safe way: check what it locks and writes with `cargo xtask lint --trace` on a copy of the
//! database; if it is harmless, acknowledge it with
//! `-- xtask: allow unclassified-statement -- what the trace showed`, or teach the forms table
//! the statement kind.

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::forms::{self, Class};
use crate::linter::rule::{Check, Class as RuleClass, Rule, Spec, TraceRole};
use crate::linter::sql::Statement;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: RuleClass::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Unknown,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    if forms::statement_kind(&statement.node) != Class::Unknown {
        return Vec::new();
    }
    let kind = forms::node_name(&statement.node);
    vec![context.finding(
        Rule::UnclassifiedStatement,
        statement.start,
        format!(
            "the linter does not know what `{kind}` does; it counts as risky until `lint --trace` or a rule says otherwise"
        ),
        "run `cargo xtask lint --trace` to see what it locks and rewrites; if it is harmless, \
         acknowledge it with `-- xtask: allow unclassified-statement -- what the trace showed`"
            .into(),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_statement_kinds_the_tables_do_not_know() {
        let sql = "COPY tickets TO STDOUT;\nCALL purge();\nALTER EXTENSION pgcrypto UPDATE;\n";
        let findings = check(Rule::UnclassifiedStatement, sql);
        assert_eq!(positions(&findings), [(1, 1), (2, 1), (3, 1)]);
        assert_eq!(
            findings[0].message,
            "the linter does not know what `CopyStmt` does; it counts as risky until `lint --trace` or a rule says otherwise"
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_known_kinds() {
        let sql = "CREATE TABLE a (id int);\nCOMMENT ON TABLE a IS 'x';\nGRANT SELECT ON a TO public;\n\
                   ALTER TABLE tickets SET TABLESPACE x;\nUPDATE tickets SET a = 1;\nSELECT 1;\n\
                   CREATE INDEX i ON a (id);\nREFRESH MATERIALIZED VIEW v;\n";
        assert!(check(Rule::UnclassifiedStatement, sql).is_empty());
    }
}
