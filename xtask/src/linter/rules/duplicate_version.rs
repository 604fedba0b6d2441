//! `duplicate-version`: two up files (or two down files) with the same version number.
//!
//! Why it matters: refinery tracks migrations by version; with two files for one version only one
//! of them ever runs, and which one depends on the machine. Usually two branches each added "the
//! next" migration.
//!
//! Safe way: renumber the newer file above the highest version in the folder (and its rollback
//! with it).

use migrations::source::Problem;

use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Broken,
    check: Check::Problem(check),
    trace: TraceRole::Static,
};

fn check(problem: &Problem) -> Option<Finding> {
    let Problem::DuplicateVersion { version, first, .. } = problem else {
        return None;
    };
    Some(Finding::at(
        Rule::DuplicateVersion,
        (1, 1),
        format!("version {version} is also used by {}", first.display()),
        "renumber this migration and its rollback above the highest version in the folder".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::linter::context::test_support::rendered;

    #[test]
    fn fires_on_a_duplicate() {
        let problem = Problem::DuplicateVersion {
            version: 3,
            first: PathBuf::from("V0003__a.sql"),
            path: PathBuf::from("V0003__b.sql"),
        };
        let finding = check(&problem).expect("a finding");
        assert!(
            finding.message.contains("V0003__a.sql"),
            "{}",
            finding.message
        );
        insta::assert_snapshot!(rendered(std::slice::from_ref(&finding)));
    }

    #[test]
    fn quiet_on_other_problems() {
        let problem = Problem::BadFileName {
            path: PathBuf::from("x.txt"),
            reason: "not a .sql file".into(),
        };
        assert!(check(&problem).is_none());
    }
}
