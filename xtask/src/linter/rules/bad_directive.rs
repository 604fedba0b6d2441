//! `bad-directive`: an `-- xtask:` comment line the engine does not understand.
//!
//! Why it matters: directives change how the engine runs the file (`no-transaction`) and what the
//! linter accepts (`maintenance-window`, `allow RULE -- reason`). A misspelt one is silently not
//! what the author meant, so the engine refuses the whole folder until it is fixed.
//!
//! Safe way: use one of `-- xtask: no-transaction`, `-- xtask: maintenance-window` or
//! `-- xtask: allow RULE -- reason` (the reason is mandatory).

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
        .file
        .directive_error
        .iter()
        .map(|error| {
            context.finding_on_line(
                Rule::BadDirective,
                error.line,
                error.message.clone(),
                "known directives: `-- xtask: no-transaction`, `-- xtask: maintenance-window`, \
                 `-- xtask: allow RULE -- reason`"
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
    fn fires_on_misspelt_directives_and_reasonless_allows() {
        let findings = check(Rule::BadDirective, "-- xtask: no-transactoin\nSELECT 1;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        let findings = check(
            Rule::BadDirective,
            "\n-- xtask: allow drop-column\nSELECT 1;\n",
        );
        assert_eq!(positions(&findings), [(2, 1)]);
        assert!(findings[0].message.contains("needs a reason"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_known_directives() {
        let sql =
            "-- xtask: no-transaction\n-- xtask: allow drop-column -- unused since 42\nSELECT 1;\n";
        assert!(check(Rule::BadDirective, sql).is_empty());
    }
}
