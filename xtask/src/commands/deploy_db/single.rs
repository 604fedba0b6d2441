//! `deploy-db` on one database: the steps in order, and the report written however it ends.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use migrations::{history, DatabaseUrl, MigrationSet};

use super::context::{refused, step, Deploy, Stop};
use super::report::{self, write_report_files, Outcome, Report};
use super::verdicts::Verdicts;
use super::{preflight, steps};
use crate::exit::Exit;
use crate::flags::DeployDbArgs;
use crate::plumbing::journal::{Entry, Journal, Subject};
use crate::plumbing::output::outln;
use crate::plumbing::{pg_tools, target_database};

/// A finished deploy of one database: its report, and where it was written (not for a dry run).
pub struct Deployed {
    pub report: Report,
    pub written_to: Option<PathBuf>,
}

/// Everything `deploy-db` does to one database, however it ends (the report says how); `Err`
/// only when the migration log or the report cannot be written.
pub fn deploy(
    url: &DatabaseUrl,
    set: &MigrationSet,
    args: &DeployDbArgs,
    shared: &Verdicts,
) -> Result<Deployed> {
    let mut journal = Journal::open(args.change.log.path.as_deref(), "deploy-db", url)?;
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
    let subject = Subject::Deploy {
        version: report.final_version,
    };
    journal.record(&Entry {
        error: report.error.clone(),
        ..Entry::new(subject, report.outcome.logged())
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
        let settings = self
            .args
            .change
            .runner_settings(target_database::applied_by(self.url));
        let run = self.apply(&mut client, &history, &pending, settings.clone())?;
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
}
