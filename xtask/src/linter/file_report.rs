//! One linted file and its verdict: what the engine's runner and folder loader produce and the
//! report formats and the commands read.

use std::path::PathBuf;

use migrations::Version;

use super::finding::Finding;
use super::rule::Risk;
use super::trace::FileTrace;

/// One linted file and its verdict.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub version: Option<Version>,
    pub risk: Risk,
    pub findings: Vec<Finding>,
    /// What PostgreSQL did, statement by statement, when the file was traced.
    pub trace: Option<FileTrace>,
}
