//! `deploy-db`'s steps that change or check the database: the backup, the pending migrations (each
//! recorded from the runner's report), verify and the health check, and on a failure the
//! rollback to the starting version with the proof that every table's data is as before.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use migrations::apply::{self, Request};
use migrations::history::{self, History};
use migrations::plan::RollbackTarget;
use migrations::runner::{MigrationRun, RunError, Settings};
use migrations::{Migration, Version};
use postgres::Client;

use super::context::{refused, step, Deploy, Stop};
use super::report::{BackupReport, MigrationOutcome, MigrationReport};
use crate::commands::backup::{self, Verify};
use crate::exit::Exit;
use crate::flags::BackupFormat;
use crate::plumbing::check::Check;
use crate::plumbing::journal::reporter::Reporter;
use crate::plumbing::output::outln;
use crate::plumbing::pg_tools::{self, DifferenceKind, Fingerprint, TableDifference};
use crate::plumbing::verification::{self, Expectations};
use crate::plumbing::{project, readiness_probe};

/// What the migrate step ran: the runner's outcome, the migrations it applied, and the one that
/// failed.
pub(super) struct Run<'m> {
    /// The error the run stopped at, if any.
    pub error: Option<RunError>,
    pub applied: Vec<&'m Migration>,
    pub failed: Option<&'m Migration>,
}

/// Everything the failure step needs to decide between a rollback and the restore command.
pub(super) struct Failure<'m> {
    pub message: String,
    pub run: Run<'m>,
    pub starting: Version,
    pub restore_command: String,
    /// Every table's fingerprint before migrating (only with `--rollback-on-failure`).
    pub before: Option<BTreeMap<String, Fingerprint>>,
    pub settings: Settings,
}

impl Deploy<'_> {
    /// A custom-format backup read back with `pg_restore --list`. Returns the command that
    /// restores it.
    pub(super) fn backup(&mut self) -> Result<String, Stop> {
        let options = backup::Options {
            format: BackupFormat::Custom,
            jobs: 1,
            out: self
                .args
                .backup_dir
                .clone()
                .unwrap_or_else(backup::default_dir),
            verify: Verify::List,
        };
        let started = Instant::now();
        let outcome = backup::create(self.url, &options);
        backup::log(self.journal, &outcome, started.elapsed())?;
        let backup = outcome.map_err(|error| {
            let message = format!("backup failed, nothing was changed: {error:#}");
            self.record(Check::of("backup", false, vec![message.clone()]));
            refused(message)
        })?;
        let backup_path = std::path::absolute(&backup.path).unwrap_or(backup.path.clone());
        outln!(
            "{} ({}) in {}",
            backup_path.display(),
            pg_tools::human_size(backup.size_bytes),
            pg_tools::seconds(backup.duration)
        );
        self.report.backup = Some(BackupReport {
            path: backup_path.display().to_string(),
            size_bytes: backup.size_bytes,
            duration_ms: backup.duration.as_millis(),
        });
        self.record(Check::of("backup readable", true, backup.verified.clone()));
        Ok(format!(
            "cargo xtask restore {} --target-db {} --drop-existing --yes",
            pg_tools::shell_quote(&backup_path.display().to_string()),
            pg_tools::shell_quote(self.url.database())
        ))
    }

    /// Runs the pending migrations through the engine's one apply path, each recorded in the
    /// report from what the runner says it ran. `history` is the one preflight read: the lock has
    /// been held since, so it is still the database's.
    pub(super) fn apply<'m>(
        &mut self,
        client: &mut Client,
        history: &History,
        pending: &[&'m Migration],
        settings: Settings,
    ) -> Result<Run<'m>, Stop> {
        history::ensure_tables(client).context("creating the history tables")?;
        let mut reporter = Reporter::new(self.journal);
        let outcome = apply::apply(
            client,
            self.set,
            history,
            Request::TO_HEAD,
            settings,
            &mut reporter,
        );
        reporter.finish()?;
        let (ran, error) = apply::ran(outcome).map_err(|error| refused(error.to_string()))?;
        let mut run = Run {
            error,
            applied: Vec::new(),
            failed: None,
        };
        for migration in pending {
            let migration_run = ran.run_of(migration.version);
            let outcome = match migration_run.map(MigrationRun::succeeded) {
                Some(true) => {
                    run.applied.push(migration);
                    MigrationOutcome::Applied
                }
                Some(false) => {
                    run.failed = Some(migration);
                    MigrationOutcome::Failed
                }
                None => MigrationOutcome::NotRun,
            };
            self.report.migrations.push(MigrationReport {
                version: migration.version,
                name: migration.name.clone(),
                class: self.risk_of(migration.version),
                duration_ms: migration_run.map(|run| run.duration.as_millis()),
                outcome,
                rollback_duration_ms: None,
                error: migration_run
                    .and_then(MigrationRun::error)
                    .map(ToString::to_string),
            });
        }
        self.report.final_version = current_version(client)?;
        Ok(run)
    }

    /// `verify` and the health check; `Err` names what failed.
    pub(super) fn after_checks(&mut self, client: &mut Client) -> Result<(), String> {
        let snapshot = project::snapshot_path(&self.set.dir, self.args.snapshot.as_deref());
        let expectations = Expectations {
            snapshot: &snapshot,
            allow_pending: false,
            strict_column_order: false,
        };
        let mut failed = Vec::new();
        match verification::checks(client, self.set, &expectations) {
            Ok(checks) => {
                for mut check in checks {
                    check.name = format!("verify: {}", check.name);
                    if !check.passed() {
                        failed.push(check.name.clone());
                    }
                    self.record(check);
                }
            }
            Err(error) => {
                let message = format!("{error:#}");
                self.record(Check::of("verify", false, vec![message.clone()]));
                failed.push(format!("verify: {message}"));
            }
        }
        let health = self.health_check();
        if !health.passed() {
            failed.push(format!("health check: {}", health.details.join("; ")));
        }
        self.record(health);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// `GET` the readiness probe until it answers 2xx, skipped without `--health-url`.
    fn health_check(&self) -> Check {
        const NAME: &str = "health check";
        let Some(given) = &self.args.health_url else {
            return Check::skipped(NAME, "no --health-url");
        };
        let url = readiness_probe::ready_url(given);
        match readiness_probe::wait_ready(&url, self.args.health_timeout) {
            Ok(said) => Check::of(NAME, true, vec![said]),
            Err(said) => Check::of(NAME, false, vec![said]),
        }
    }

    /// After a failed migration or check: nothing to undo, a rollback proven by the data, or the
    /// restore command. Always the `Stop` that says which.
    pub(super) fn after_failure(&mut self, client: &mut Client, failure: Failure<'_>) -> Stop {
        let Failure {
            message,
            run,
            starting,
            restore_command,
            before,
            settings,
        } = failure;
        let first_failed_in_transaction = run
            .failed
            .is_none_or(|migration| !migration.up.directives.no_transaction);
        if run.applied.is_empty() && first_failed_in_transaction {
            // The first migration failed inside its own transaction: nothing changed.
            return refused(format!(
                "{message}; nothing was changed (still at version {starting})"
            ));
        }
        if let Some(why) = self.why_no_rollback(&run.applied, run.failed) {
            outln!("not rolling back: {why}");
            return self.not_rolled_back(&message, &why, &restore_command);
        }
        step("rollback");
        let rolled_back = self.roll_back(client, settings, starting);
        match current_version(client) {
            Ok(version) => self.report.final_version = version,
            Err(error) => return error.into(),
        }
        if let Err(error) = rolled_back {
            let why = format!("the rollback failed: {error:#}");
            return self.not_rolled_back(&message, &why, &restore_command);
        }
        let differences = match self.data_intact(client, before.as_ref()) {
            Ok(differences) => differences,
            Err(error) => return error.into(),
        };
        if !differences.is_empty() {
            let why = format!(
                "rolled back to version {}, but the data differs from before the deploy ({}): the application's own writes, or data the migrations changed that their rollbacks do not bring back",
                self.report.final_version,
                pg_tools::describe_differences(&differences)
            );
            return self.not_rolled_back(&message, &why, &restore_command);
        }
        Stop {
            exit: Exit::RolledBack,
            message: format!(
                "{message}; rolled back to the starting version {}, every table's content unchanged",
                self.report.final_version
            ),
        }
    }

    /// Puts the restore command in the report and prints it.
    fn not_rolled_back(&mut self, failure: &str, why: &str, restore_command: &str) -> Stop {
        self.report.restore_command = Some(restore_command.to_owned());
        outln!("to restore the backup taken before this deploy:\n  {restore_command}");
        Stop {
            exit: Exit::NotRolledBack,
            message: format!(
                "{failure}; not rolled back ({why}); {} is at version {}; restore the backup taken before this deploy with: {restore_command}",
                self.url, self.report.final_version
            ),
        }
    }

    /// Why the migrations of this run cannot be rolled back safely, if they cannot.
    fn why_no_rollback(
        &self,
        applied: &[&Migration],
        failed: Option<&Migration>,
    ) -> Option<String> {
        if !self.args.rollback_on_failure {
            return Some("--rollback-on-failure was not given".to_owned());
        }
        if let Some(migration) = failed.filter(|m| m.up.directives.no_transaction) {
            return Some(format!(
                "{} ran outside a transaction, so its failure may have left changes behind",
                migration.label()
            ));
        }
        for migration in applied {
            if migration.up.directives.no_transaction {
                return Some(format!("{} ran outside a transaction", migration.label()));
            }
            if !has_statements(&migration.down.sql) {
                return Some(format!("{} has an empty rollback", migration.label()));
            }
        }
        None
    }

    /// Rolls back what this run applied, newest first, to `starting`.
    fn roll_back(
        &mut self,
        client: &mut Client,
        settings: Settings,
        starting: Version,
    ) -> Result<()> {
        let history = history::read(client).context("reading the migration history")?;
        let mut reporter = Reporter::new(self.journal);
        let request = Request::Rollback(RollbackTarget::To(starting));
        let outcome = apply::apply(client, self.set, &history, request, settings, &mut reporter);
        reporter.finish()?;
        let (ran, error) = apply::ran(outcome)?;
        for report in &mut self.report.migrations {
            if let Some(run) = ran.run_of(report.version) {
                report.rollback_duration_ms = Some(run.duration.as_millis());
                if run.succeeded() {
                    report.outcome = MigrationOutcome::RolledBack;
                }
            }
        }
        error.map_or(Ok(()), |error| Err(error.into()))
    }

    /// Every table's data against `before` (the check "data intact after the rollback"); returns
    /// the differences, the engine's own history tables created by this run left out.
    fn data_intact(
        &mut self,
        client: &mut Client,
        before: Option<&BTreeMap<String, Fingerprint>>,
    ) -> Result<Vec<TableDifference>> {
        let after = pg_tools::fingerprints(client)?;
        let mut differences = pg_tools::compare_fingerprints(before.unwrap_or(&after), &after);
        differences.retain(|difference| {
            !(difference.kind == DifferenceKind::New && is_history_table(&difference.table))
        });
        let details = if differences.is_empty() {
            vec![format!(
                "{} tables: every row count and content checksum equal to before the deploy",
                after.len()
            )]
        } else {
            differences.iter().map(ToString::to_string).collect()
        };
        self.record(Check::of(
            "data intact after the rollback",
            differences.is_empty(),
            details,
        ));
        Ok(differences)
    }
}

/// The engine's history tables (`schema.table`), which a first deploy creates.
fn is_history_table(table: &str) -> bool {
    [history::REFINERY_TABLE, history::STATE_TABLE]
        .iter()
        .any(|name| table.ends_with(&format!(".{name}")))
}

/// Whether SQL holds anything but comments and blanks.
fn has_statements(sql: &str) -> bool {
    sql.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--") && line != ";"
    })
}

fn current_version(client: &mut Client) -> Result<Version> {
    Ok(history::read(client)
        .context("reading the migration history")?
        .newest_applied()
        .unwrap_or(0))
}
