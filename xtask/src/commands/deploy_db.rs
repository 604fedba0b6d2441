//! `cargo xtask deploy-db`: the strategy's staging and production checklists as one command a
//! release script can trust. Preflight (status clean, pending migrations linted, no INVALID
//! index, pg_dump usable), a backup read back with `pg_restore --list`, the pending migrations
//! under the migration lock, verify, the health check; on failure a rollback to the starting
//! version when it is safe, else the exact restore command. Every step goes to the migration log
//! and to a deploy report (JSON and text). Exit codes: see [`Exit`] and README.
//!
//! This file is the command and the order of the steps; `preflight.rs` refuses before anything
//! changes, `steps.rs` backs up, applies, checks and rolls back, `report.rs` writes the report,
//! `fleet.rs` runs all of it for every database of a fleet.

mod fleet;
mod lock_estimate;
mod preflight;
mod report;
mod steps;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use migrations::{history, DatabaseUrl, MigrationSet, Version};

use crate::exit::Exit;
use crate::flags::DeployDbArgs;
use crate::linter;
use crate::linter::Risk;
use crate::plumbing::check::{self, Check, Layout};
use crate::plumbing::journal::{Entry, Journal};
use crate::plumbing::output::outln;
use crate::plumbing::{pg_tools, target_database};

pub use report::{write_report_files, Outcome, Report};

/// How a deploy ended when it did not deploy.
struct Stop {
    exit: Exit,
    message: String,
}

fn refused(message: impl Into<String>) -> Stop {
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

pub fn run(args: &DeployDbArgs) -> Result<()> {
    if !args.dry_run && !args.yes && !std::io::stdin().is_terminal() {
        return Err(Exit::usage(
            "deploy-db changes the database: pass --yes to confirm (there is no terminal to ask on), or --dry-run",
        ));
    }
    let set = target_database::load(args.database.dir.as_deref())?;
    if let Some(file) = &args.fleet.fleet {
        return fleet::run(args, &set, file.as_deref());
    }
    let url = target_database::resolve(&args.database)?;
    let report = deploy(&url, &set, args, &Verdicts::default())?.report;
    match report.error {
        None => Ok(()),
        Some(message) => Err(report.exit_code.error(message)),
    }
}

/// A finished deploy of one database: its report, and where it was written (not for a dry run).
pub struct Deployed {
    pub report: Report,
    pub written_to: Option<PathBuf>,
}

/// The linter's verdicts on pending migrations, made once per server, role and set of pending
/// versions and shared by every database of a fleet deployed there: the trace runs on a scratch
/// database of the server, so the target's own rows play no part in it (its table sizes are read
/// apart).
#[derive(Default)]
pub struct Verdicts {
    made: Mutex<HashMap<JudgedFor, Arc<OnceLock<Judged>>>>,
}

/// Server, role and pending versions.
type JudgedFor = (String, String, Vec<Version>);
type Judged = (
    Arc<BTreeMap<Version, linter::PendingVerdict>>,
    Option<String>,
);

impl Verdicts {
    fn judge(&self, dir: &Path, pending: &[Version], url: &DatabaseUrl) -> Judged {
        let cell = Arc::clone(
            self.made
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry((url.server(), url.user().to_owned(), pending.to_vec()))
                .or_default(),
        );
        // The other databases of the same server wait here for the one trace being made.
        cell.get_or_init(|| {
            let (verdicts, unavailable) = linter::judge_pending(dir, pending, url);
            (Arc::new(verdicts), unavailable)
        })
        .clone()
    }
}

/// Everything `deploy-db` does to one database, however it ends (the report says how); `Err`
/// only when the migration log or the report cannot be written.
pub fn deploy(
    url: &DatabaseUrl,
    set: &MigrationSet,
    args: &DeployDbArgs,
    shared: &Verdicts,
) -> Result<Deployed> {
    let mut journal = Journal::open(args.change.log.as_deref(), "deploy-db", url)?;
    let mut deploy = Deploy {
        args,
        url,
        set,
        report: Report::start(url),
        journal: &mut journal,
        shared,
        verdicts: Arc::default(),
    };
    let result = deploy.execute();
    let dry_run = matches!(result, Ok(Done::DryRun));
    let mut report = deploy.report;
    (report.outcome, report.exit_code, report.error) = match result {
        Ok(Done::Deployed) => (Outcome::Deployed, Exit::Success, None),
        Ok(Done::UpToDate) => (Outcome::UpToDate, Exit::Success, None),
        Ok(Done::DryRun) => (Outcome::DryRun, Exit::Success, None),
        Err(stop) => (
            match stop.exit {
                Exit::RolledBack => Outcome::RolledBack,
                Exit::NotRolledBack => Outcome::NotRolledBack,
                _ => Outcome::Refused,
            },
            stop.exit,
            Some(stop.message),
        ),
    };
    report.finished_at = report::now_rfc3339();
    journal.record(&Entry {
        version: Some(report.final_version),
        name: Some("deploy-db"),
        outcome: report.outcome.as_str(),
        error: report.error.clone(),
        ..Entry::default()
    })?;
    let written_to = if dry_run {
        None
    } else {
        let (json, text) = write_report_files(
            args.report.as_deref(),
            &format!("deploy-{}", url.database()),
            &report.started_at,
            &report,
            &report::text_report(&report),
        )?;
        outln!("report: {} and {}", json.display(), text.display());
        Some(json)
    };
    Ok(Deployed { report, written_to })
}

enum Done {
    Deployed,
    UpToDate,
    DryRun,
}

struct Deploy<'a> {
    args: &'a DeployDbArgs,
    url: &'a DatabaseUrl,
    set: &'a MigrationSet,
    report: Report,
    journal: &'a mut Journal,
    shared: &'a Verdicts,
    /// The linter's verdict on each pending migration, traced when the server allowed it.
    verdicts: Arc<BTreeMap<Version, linter::PendingVerdict>>,
}

impl Deploy<'_> {
    /// The steps in order; each refusal or failure ends it with the `Stop` that says how.
    fn execute(&mut self) -> Result<Done, Stop> {
        step("preflight");
        let (mut client, server) = self.connect()?;
        // Held from before the plan is made until the end, so what was checked is what runs.
        let _lock = self.lock()?;
        self.settle_unfinished_runs(&mut client)?;
        let history = history::read(&mut client).context("reading the migration history")?;
        let starting = history.newest_applied().unwrap_or(0);
        self.report.starting_version = starting;
        self.report.final_version = starting;
        let pending = self.preflight(&mut client, &history, &server)?;

        if self.args.dry_run {
            self.print_plan(&mut client, &pending, starting)?;
            return Ok(Done::DryRun);
        }
        if pending.is_empty() {
            outln!("{} is up to date at version {starting}", self.url);
            self.after_checks(&mut client)
                .map_err(|message| refused(format!("nothing was pending, but {message}")))?;
            return Ok(Done::UpToDate);
        }
        if !self.args.yes {
            preflight::confirm(self.url, pending.len())?;
        }

        step("backup");
        let restore_command = self.backup()?;
        // The data as it was, to prove a rollback brought it back (a full read of every table,
        // so only when a rollback may happen).
        let before = if self.args.rollback_on_failure {
            Some(pg_tools::fingerprints(&mut client)?)
        } else {
            None
        };

        step("migrate");
        let settings = target_database::settings(self.url, &self.args.change);
        let run = self.apply(&mut client, &pending, settings.clone())?;
        let failure = match &run.error {
            Some(error) => Some(error.to_string()),
            None => {
                step("verify");
                self.after_checks(&mut client).err()
            }
        };
        let Some(failure) = failure else {
            outln!(
                "deployed {}: version {starting} -> {}",
                self.url,
                self.report.final_version
            );
            return Ok(Done::Deployed);
        };

        step("failure");
        Err(self.after_failure(
            &mut client,
            steps::Failure {
                message: failure,
                run,
                starting,
                restore_command,
                before,
                settings,
            },
        ))
    }

    /// The linter's class of a pending migration; `None` when it could not be linted.
    fn risk_of(&self, version: Version) -> Option<Risk> {
        self.verdicts.get(&version).map(|verdict| verdict.risk)
    }

    /// Records a check in the report and the migration log, and prints it.
    fn record(&mut self, check: Check) {
        for line in check::render(std::slice::from_ref(&check), Layout::Block { indent: 0 }) {
            outln!("{line}");
        }
        let _ = self.journal.record(&Entry {
            name: Some(&check.name),
            outcome: if check.passed() { "passed" } else { "failed" },
            error: (!check.passed()).then(|| check.details.join("; ")),
            ..Entry::default()
        });
        self.report.checks.push(check);
    }
}

fn step(name: &str) {
    outln!("==> {name}");
}
