//! `empty-down`: a rollback file with no statement in it.
//!
//! Why it matters: `cargo xtask rollback` would record the migration as reverted while the schema
//! keeps its changes; the next `migrate` then fails on objects that already exist.
//!
//! Safe way: write the statements that undo the up file, last first. A migration that truly
//! cannot be reverted (a data fix) says so with `-- xtask: allow empty-down -- why`.

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Hygiene,
    check: Check::File(check),
    trace: TraceRole::Static,
};

fn check(context: &Context) -> Vec<Finding> {
    let parsed = context.parsed;
    if !context.is_down() || !parsed.statements.is_empty() || !parsed.syntax_errors.is_empty() {
        return Vec::new();
    }
    vec![context.finding_on_line(
        Rule::EmptyDown,
        1,
        "this rollback has no statement: rolling back would change nothing".into(),
        "write the statements that undo the up file, last first; if it cannot be undone, say \
         why with `-- xtask: allow empty-down -- reason`"
            .into(),
    )]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::linter::context::test_support::{check, check_file, positions, rendered};
    use crate::linter::context::SourceFile;
    use crate::linter::rule::Rule;

    fn down(sql: &str) -> SourceFile {
        SourceFile::new(Path::new("V0002__b.down.sql"), sql.into())
    }

    #[test]
    fn fires_on_a_down_file_with_only_comments() {
        let findings = check_file(Rule::EmptyDown, "", &down("-- Reverts V0002__b.sql\n\n"));
        assert_eq!(positions(&findings), [(1, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_down_files_with_statements_and_on_up_files() {
        assert!(check_file(Rule::EmptyDown, "", &down("DROP TABLE b;\n")).is_empty());
        assert!(check(Rule::EmptyDown, "-- nothing yet\n").is_empty());
    }
}
