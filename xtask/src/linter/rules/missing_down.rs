//! `missing-down`: an up file without its rollback (`V{NNNN}__{name}.down.sql` beside it).
//!
//! Why it matters: the strategy requires every migration to be reversible, and `cargo xtask
//! rollback` needs the file; the engine refuses a folder with a migration that lacks one.
//!
//! Safe way: create the down file, undoing the up file's statements last first (`cargo xtask
//! new` creates both).

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
    let Problem::MissingDown { expected, .. } = problem else {
        return None;
    };
    Some(Finding::at(
        Rule::MissingDown,
        (1, 1),
        format!("no rollback: {} does not exist", expected.display()),
        format!(
            "create {} with the statements that undo this migration, last first",
            expected.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::linter::context::test_support::rendered;

    #[test]
    fn fires_on_a_missing_down() {
        let problem = Problem::MissingDown {
            path: PathBuf::from("V0001__a.sql"),
            expected: PathBuf::from("V0001__a.down.sql"),
        };
        let finding = check(&problem).expect("a finding");
        assert!(finding.help.contains("V0001__a.down.sql"));
        insta::assert_snapshot!(rendered(std::slice::from_ref(&finding)));
    }

    #[test]
    fn quiet_on_other_problems() {
        let problem = Problem::DownWithoutUp {
            path: PathBuf::from("V0001__a.down.sql"),
            expected: PathBuf::from("V0001__a.sql"),
        };
        assert!(check(&problem).is_none());
    }
}
