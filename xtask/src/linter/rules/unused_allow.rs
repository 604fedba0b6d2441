//! `unused-allow`: `-- xtask: allow RULE -- reason` where RULE reports nothing in the file.
//!
//! Why it matters: an acknowledgement left behind after the statement it covered was changed or
//! removed would silently acknowledge a future, different finding of the same rule.
//!
//! Safe way: remove the directive (or fix which rule it names). Found by the runner after
//! acknowledging, so it is a warning and never fails the lint.

use crate::linter::finding::Severity;
use crate::linter::rule::{Check, Class, Spec, TraceRole};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Warning,
    class: Class::Broken,
    check: Check::Runner,
    trace: TraceRole::Static,
};

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{rendered, up_file};
    use crate::linter::runner::lint_standalone;
    use crate::linter::rule::Rule;

    const DOCUMENTED: &str = "-- Purpose: a\n-- Risk: b\n-- Rollback: c\n-- Performance: d\n";

    #[test]
    fn fires_on_an_allow_that_matches_nothing() {
        let sql =
            format!("{DOCUMENTED}-- xtask: allow drop-column -- unused since 42\nSELECT 1;\n");
        let findings = lint_standalone(&up_file(&sql));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!((findings[0].rule, findings[0].line), (Rule::UnusedAllow, 5));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_when_the_allow_acknowledges_a_finding() {
        let sql = format!(
            "{DOCUMENTED}-- xtask: allow drop-column -- unused since 42\nALTER TABLE t DROP COLUMN c;\n"
        );
        let findings = lint_standalone(&up_file(&sql));
        assert!(findings
            .iter()
            .all(|finding| finding.rule != Rule::UnusedAllow));
        assert!(findings
            .iter()
            .all(|finding| finding.acknowledged.is_some()));
    }
}
