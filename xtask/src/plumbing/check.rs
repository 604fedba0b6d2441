//! One check's result (`verify`, `health-check`, `deploy-db`, `check-migrations`) and the one
//! text renderer of "ok / FAIL" lines they all print.

use serde::{Serialize, Serializer};

/// How a check ended. Only `Failed` fails: a skipped check or one with warnings passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    /// Not run; its detail says why.
    Skipped,
    /// Passed, with something listed for a person to look at.
    Warning,
}

/// A named check, its verdict and the lines that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub details: Vec<String>,
}

impl Check {
    pub fn new(name: impl Into<String>, verdict: Verdict, details: Vec<String>) -> Check {
        Check {
            name: name.into(),
            verdict,
            details,
        }
    }

    /// Passed when `passed`, else failed.
    pub fn of(name: impl Into<String>, passed: bool, details: Vec<String>) -> Check {
        let verdict = if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        Check::new(name, verdict, details)
    }

    /// Not run, `because` says why (printed as `skipped: because`).
    pub fn skipped(name: impl Into<String>, because: &str) -> Check {
        Check::new(name, Verdict::Skipped, vec![format!("skipped: {because}")])
    }

    pub fn passed(&self) -> bool {
        self.verdict != Verdict::Failed
    }
}

/// Serialised as README documents it: `{"name", "passed", "details"}`.
impl Serialize for Check {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut fields = serializer.serialize_struct("Check", 3)?;
        fields.serialize_field("name", &self.name)?;
        fields.serialize_field("passed", &self.passed())?;
        fields.serialize_field("details", &self.details)?;
        fields.end()
    }
}

/// How the lines of checks are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `ok    name`, each detail line below it, six columns further in; all of it `indent` in.
    Block { indent: usize },
    /// `ok    name: detail; detail`, one line per check.
    OneLine,
}

/// The text of `checks`, one string per printed line.
pub fn render(checks: &[Check], layout: Layout) -> Vec<String> {
    let mut lines = Vec::new();
    for check in checks {
        let mark = if check.passed() { "ok" } else { "FAIL" };
        match layout {
            Layout::OneLine => lines.push(format!(
                "{mark:<4}  {}: {}",
                check.name,
                check.details.join("; ")
            )),
            Layout::Block { indent } => {
                lines.push(format!("{:indent$}{mark:<4}  {}", "", check.name));
                for line in check.details.iter().flat_map(|detail| detail.lines()) {
                    lines.push(format!("{:indent$}      {line}", ""));
                }
            }
        }
    }
    lines
}

/// The names of the checks that failed, in order.
pub fn failed_names(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|check| !check.passed())
        .map(|check| check.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Check> {
        vec![
            Check::of("database reachable", true, vec!["db at 127.0.0.1".into()]),
            Check::of(
                "no INVALID index",
                false,
                vec![
                    "public.a is INVALID".into(),
                    "public.b is INVALID\nagain".into(),
                ],
            ),
            Check::skipped(
                "live schema equals the committed snapshot",
                "not at the head",
            ),
            Check::new(
                "constraints left NOT VALID (listed, not a failure)",
                Verdict::Warning,
                vec!["c on t is NOT VALID".into()],
            ),
        ]
    }

    #[test]
    fn block_layout() {
        insta::assert_snapshot!(render(&sample(), Layout::Block { indent: 0 }).join("\n"));
    }

    #[test]
    fn block_layout_indented_for_a_report() {
        insta::assert_snapshot!(render(&sample(), Layout::Block { indent: 2 }).join("\n"));
    }

    #[test]
    fn one_line_layout() {
        insta::assert_snapshot!(render(&sample(), Layout::OneLine).join("\n"));
    }

    #[test]
    fn only_failed_checks_fail_and_json_says_passed() {
        let checks = sample();
        assert_eq!(failed_names(&checks), ["no INVALID index"]);
        assert_eq!(
            serde_json::to_string(&checks[2]).unwrap(),
            r#"{"name":"live schema equals the committed snapshot","passed":true,"details":["skipped: not at the head"]}"#
        );
    }
}
