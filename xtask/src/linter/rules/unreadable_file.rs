//! `unreadable-file`: a file or folder under the migrations folder that cannot be read
//! (permissions, not UTF-8).
//!
//! Why it matters: the engine cannot know what it holds, so it refuses the folder rather than run
//! the migrations without it.
//!
//! Safe way: fix its permissions or encoding (migrations are UTF-8), or move it out of the folder.

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
    let message = match problem {
        Problem::UnreadableFile { message, .. } | Problem::UnreadableDir { message, .. } => message,
        _ => return None,
    };
    Some(Finding::at(
        Rule::UnreadableFile,
        (1, 1),
        format!("cannot read: {message}"),
        "fix its permissions or encoding (UTF-8), or move it out of the migrations folder".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::linter::context::test_support::rendered;

    #[test]
    fn fires_on_unreadable_files_and_folders() {
        let file = Problem::UnreadableFile {
            path: PathBuf::from("V0001__a.sql"),
            message: "stream did not contain valid UTF-8".into(),
        };
        let file_finding = check(&file);
        assert!(file_finding.is_some());
        let dir = Problem::UnreadableDir {
            dir: PathBuf::from("sql/old"),
            message: "permission denied".into(),
        };
        let dir_finding = check(&dir);
        assert!(dir_finding.is_some());
        let findings: Vec<_> = file_finding.into_iter().chain(dir_finding).collect();
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_other_problems() {
        let problem = Problem::BadComment {
            path: PathBuf::from("V0001__a.sql"),
            line: 1,
            message: "unknown directive".into(),
        };
        assert!(check(&problem).is_none());
    }
}
