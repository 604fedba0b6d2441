//! What every step of a deploy shares: the deploy under way (`Deploy`, whose steps are
//! implemented in `preflight.rs` and `steps.rs`), how a deploy stops, and how a check is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use migrations::{DatabaseUrl, MigrationSet, Version};

use super::report::Report;
use super::verdicts::Verdicts;
use crate::exit::Exit;
use crate::flags::DeployDbArgs;
use crate::linter::{self, Risk};
use crate::plumbing::check::{self, Check, Layout};
use crate::plumbing::journal::{self, Entry, Journal, Subject};
use crate::plumbing::output::outln;

/// How a deploy ended when it did not deploy.
pub(super) struct Stop {
    pub exit: Exit,
    pub message: String,
}

pub(super) fn refused(message: impl Into<String>) -> Stop {
    Stop {
        exit: Exit::Failure,
        message: message.into(),
    }
}

impl From<anyhow::Error> for Stop {
    fn from(error: anyhow::Error) -> Stop {
        refused(format!("{error:#}"))
    }
}

pub(super) struct Deploy<'a> {
    pub args: &'a DeployDbArgs,
    pub url: &'a DatabaseUrl,
    pub set: &'a MigrationSet,
    pub report: Report,
    pub journal: &'a mut Journal,
    pub shared: &'a Verdicts,
    /// The linter's verdict on each pending migration, traced when the server allowed it.
    pub verdicts: Arc<BTreeMap<Version, linter::PendingVerdict>>,
}

impl Deploy<'_> {
    /// The linter's class of a pending migration; `None` when it could not be linted.
    pub(super) fn risk_of(&self, version: Version) -> Option<Risk> {
        self.verdicts.get(&version).map(|verdict| verdict.risk)
    }

    /// Records a check in the report and the migration log, and prints it.
    pub(super) fn record(&mut self, check: Check) {
        for line in check::render(std::slice::from_ref(&check), Layout::Block { indent: 0 }) {
            outln!("{line}");
        }
        let outcome = if check.passed() {
            journal::Outcome::Passed
        } else {
            journal::Outcome::Failed
        };
        let _ = self.journal.record(&Entry {
            error: (!check.passed()).then(|| check.details.join("; ")),
            ..Entry::new(Subject::Check(&check.name), outcome)
        });
        self.report.checks.push(check);
    }
}

pub(super) fn step(name: &str) {
    outln!("==> {name}");
}
