//! `missing-documentation`: an up file without one of the strategy's documentation fields
//! (`-- Purpose:`, `-- Risk:`, `-- Rollback:`, `-- Performance:`), or with a field left empty or
//! still holding the `<placeholder>` that `cargo xtask new` writes.
//!
//! Why it matters: the strategy requires every migration to say why it exists, how risky it is,
//! how it is rolled back and what it costs on production-sized tables; reviewers and whoever
//! runs a rollback at night rely on it.
//!
//! Safe way: fill in the four comment lines at the top of the up file. Down files need none.

use migrations::model::Documentation;

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
    if context.is_down() {
        return Vec::new();
    }
    let missing: Vec<&str> = Documentation::FIELDS
        .into_iter()
        .filter(|field| context.file.documentation.field(field).is_none())
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let template: Vec<String> = missing
        .iter()
        .map(|field| format!("-- {field}: ..."))
        .collect();
    vec![context.finding_on_line(
        Rule::MissingDocumentation,
        1,
        format!(
            "missing documentation: {} (absent, empty or still a <placeholder>)",
            missing.join(", ")
        ),
        format!(
            "describe the migration at the top of the file:\n{}",
            template.join("\n")
        ),
    )]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::linter::context::test_support::{check, check_file, positions, rendered};
    use crate::linter::context::SourceFile;
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_absent_empty_and_placeholder_fields() {
        let sql =
            "-- Purpose: add x\n-- Risk: <safe, risky or multi-step>\n-- Rollback:\nSELECT 1;\n";
        let findings = check(Rule::MissingDocumentation, sql);
        assert_eq!(positions(&findings), [(1, 1)]);
        assert!(
            findings[0].message.contains("Risk, Rollback, Performance"),
            "{}",
            findings[0].message
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_documented_up_files_and_on_down_files() {
        let sql = "-- Purpose: a\n-- Risk: b\n-- Rollback: c\n-- Performance: d\nSELECT 1;\n";
        assert!(check(Rule::MissingDocumentation, sql).is_empty());
        let down = SourceFile::new(Path::new("V0001__a.down.sql"), "SELECT 1;\n".into());
        assert!(check_file(Rule::MissingDocumentation, "", &down).is_empty());
    }
}
