//! A violation is a value: rules return findings, the runner acknowledges them, reporters format
//! them. Nothing here prints.

use std::fmt;

use serde::Serialize;

use super::rule::{Rule, TraceRole};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The directive that turned a finding into a recorded decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// `-- xtask: allow RULE -- reason` on `line`.
    Allow { line: usize, reason: String },
    /// `-- xtask: maintenance-window`: the migration runs while the application is down.
    MaintenanceWindow,
}

/// Where a finding comes from, once the trace has been compared with the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A rule saw it; the trace did not run, or cannot see this kind of danger (data loss,
    /// compatibility).
    Static,
    /// A rule saw it and the trace saw PostgreSQL do it.
    Confirmed,
    /// Only the trace saw it: no rule knows this form.
    Trace,
    /// A rule expected blocking work or a large data change, and the trace saw PostgreSQL do
    /// neither: reported as a warning, not counted in the file's risk.
    ClearedByTrace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// 1-based, in the file's lines.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    /// The safe way to get the same result.
    pub help: String,
    pub acknowledged: Option<Acknowledgement>,
    /// The index of the file's top-level statement it is about (`None`: about the file).
    pub statement: Option<usize>,
    pub source: Source,
    /// What the trace can say about this finding, when it differs from its rule's.
    pub trace_role: Option<TraceRole>,
}

impl Finding {
    /// A finding with its rule's default severity, at a 1-based (line, column).
    pub fn at(
        rule: Rule,
        (line, column): (usize, usize),
        message: String,
        help: String,
    ) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            line,
            column,
            message,
            help,
            acknowledged: None,
            statement: None,
            source: Source::Static,
            trace_role: None,
        }
    }

    /// What the trace can say about it: its own role, else its rule's.
    pub fn trace_role(&self) -> TraceRole {
        self.trace_role.unwrap_or_else(|| self.rule.trace_role())
    }

    /// Whether this finding fails the lint.
    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Error && self.acknowledged.is_none()
    }

    /// Whether it counts toward the file's class: the trace showed that it did not happen.
    pub fn counts(&self) -> bool {
        self.source != Source::ClearedByTrace
    }
}

/// The strategy's five steps for a change that would break the running application, spelt out
/// for one concrete table or column.
pub struct ExpandContract {
    /// SQL of step 1: the new schema beside the old.
    pub add: String,
    pub dual_write: String,
    pub backfill: String,
    pub switch_reads: String,
    pub remove: String,
}

impl ExpandContract {
    pub fn help(&self) -> String {
        format!(
            "do it as expand/contract, each step released before the next:\n\
             1. add the new beside the old: {}\n\
             2. dual-write: {}\n\
             3. migrate existing rows in batches: {}\n\
             4. switch reads: {}\n\
             5. remove the old, in a later migration: {}",
            self.add, self.dual_write, self.backfill, self.switch_reads, self.remove
        )
    }
}
