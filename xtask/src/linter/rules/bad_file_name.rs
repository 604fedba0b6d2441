//! `bad-file-name`: a file in the migrations folder whose name is not `V{NNNN}__{snake_case}.sql`
//! or `V{NNNN}__{snake_case}.down.sql`.
//!
//! Why it matters: refinery silently skips files its pattern misses (a dash in the name, a
//! lower-case `v`, a stray `.txt`) and would run the other migrations without it; the engine
//! refuses the whole folder instead.
//!
//! Safe way: rename it (`cargo xtask new NAME` creates correctly named files), or move files that
//! are not migrations out of the folder.

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
    let Problem::BadFileName { reason, .. } = problem else {
        return None;
    };
    Some(Finding::at(
        Rule::BadFileName,
        (1, 1),
        format!("not a migration file name: {reason}"),
        "rename it to V{NNNN}__{snake_case_name}.sql (its rollback: .down.sql), or move it out \
         of the migrations folder"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::linter::context::test_support::rendered;

    #[test]
    fn fires_on_a_bad_name() {
        let problem = Problem::BadFileName {
            path: PathBuf::from("sql/V0001__add-x.sql"),
            reason: "name `add-x` is not snake_case".into(),
        };
        let finding = check(&problem).expect("a finding");
        assert_eq!(finding.rule, Rule::BadFileName);
        assert!(finding.message.contains("add-x"));
        insta::assert_snapshot!(rendered(std::slice::from_ref(&finding)));
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
