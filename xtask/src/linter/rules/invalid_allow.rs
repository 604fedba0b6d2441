//! `invalid-allow`: `-- xtask: allow RULE -- reason` names a rule that does not exist, or one
//! that cannot be acknowledged.
//!
//! Why it matters: a typo in an acknowledgement (`allow drop-colum`) would otherwise acknowledge
//! nothing, and the author would believe a decision is recorded when it is not. Rules for files
//! the engine cannot run as written (syntax errors, bad names, transaction control, ...) have no
//! acknowledgement: the migration would fail however well reasoned.
//!
//! Safe way: name a rule from `cargo xtask lint --explain RULE`, spelt as the finding shows it.

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
    let mut findings = Vec::new();
    for allow in &context.file.directives.allows {
        let (message, help) = match Rule::from_name(&allow.rule) {
            Some(rule) if rule.class() == Class::Broken => (
                format!("`{rule}` cannot be acknowledged: the migration cannot run as written"),
                format!("fix what `{rule}` reports and remove this directive"),
            ),
            Some(_) => continue,
            None => (
                format!("`allow {}` names no lint rule", allow.rule),
                match closest_rule(&allow.rule) {
                    Some(rule) => format!("did you mean `{rule}`?"),
                    None => "`cargo xtask lint --explain RULE` lists the rules".into(),
                },
            ),
        };
        findings.push(context.finding_on_line(Rule::InvalidAllow, allow.line, message, help));
    }
    findings
}

/// The rule whose name is within a few typos of `name`.
fn closest_rule(name: &str) -> Option<Rule> {
    Rule::ALL
        .iter()
        .map(|&rule| (edit_distance(name, rule.name()), rule))
        .filter(|&(distance, _)| distance <= 3)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, rule)| rule)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_unknown_rules_with_a_suggestion() {
        let findings = check(
            Rule::InvalidAllow,
            "-- Purpose: x\n-- xtask: allow drop-colum -- unused since 42\nSELECT 1;\n",
        );
        assert_eq!(positions(&findings), [(2, 1)]);
        assert!(
            findings[0].help.contains("`drop-column`"),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn fires_on_rules_that_cannot_be_acknowledged() {
        let findings = check(
            Rule::InvalidAllow,
            "-- xtask: allow transaction-control -- we know\nSELECT 1;\n",
        );
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("cannot be acknowledged"));
    }

    #[test]
    fn quiet_on_known_acknowledgeable_rules() {
        let sql = "-- xtask: allow drop-column -- unused since 42\nSELECT 1;\n";
        assert!(check(Rule::InvalidAllow, sql).is_empty());
    }
}
