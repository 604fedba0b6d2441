//! `down-without-up`: a rollback file whose up file does not exist (often a rename of one side
//! only).
//!
//! Why it matters: the rollback never runs, and its real migration is reported without one; the
//! engine refuses the folder.
//!
//! Safe way: give both files the same version and name, or delete the orphan.

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
    let Problem::DownWithoutUp { expected, .. } = problem else {
        return None;
    };
    Some(Finding::at(
        Rule::DownWithoutUp,
        (1, 1),
        format!(
            "rollback without a migration: {} does not exist",
            expected.display()
        ),
        "rename it after its up file (same version and name), or delete it".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::linter::context::test_support::rendered;

    #[test]
    fn fires_on_an_orphan_down() {
        let problem = Problem::DownWithoutUp {
            path: PathBuf::from("V0001__a.down.sql"),
            expected: PathBuf::from("V0001__a.sql"),
        };
        let finding = check(&problem);
        assert!(finding.is_some());
        insta::assert_snapshot!(rendered(finding.as_slice()));
    }

    #[test]
    fn quiet_on_other_problems() {
        let problem = Problem::MissingDown {
            path: PathBuf::from("V0001__a.sql"),
            expected: PathBuf::from("V0001__a.down.sql"),
        };
        assert!(check(&problem).is_none());
    }
}
