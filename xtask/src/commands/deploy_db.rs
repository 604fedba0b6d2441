//! `cargo xtask deploy-db`: the strategy's staging and production checklists as one command a
//! release script can trust. Preflight (status clean, pending migrations linted, no INVALID
//! index, pg_dump usable), a backup read back with `pg_restore --list`, the pending migrations
//! under the migration lock, verify, the health check; on failure a rollback to the starting
//! version when it is safe, else the exact restore command. Every step goes to the migration log
//! and to a deploy report (JSON and text). Exit codes: see [`Exit`] and README.

mod fleet;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::history::{self, History};
use migrations::plan::{self, RollbackTarget};
use migrations::runner::{Event, Observer, Runner};
use migrations::{statuses, DatabaseUrl, Direction, Migration, MigrationSet, State, Version};
use postgres::Client;
use serde::Serialize;
use xshell::Shell;

use crate::commands::backup::{self, Verify};
use crate::commands::verify::{self, Expectations};
use crate::exit::Exit;
use crate::flags::{BackupFormat, DeployDbArgs};
use crate::linter;
use crate::linter::Risk;
use crate::plumbing::journal::{self, Entry, Journal, Reporter, Subject};
use crate::plumbing::output::outln;
use crate::plumbing::pg_tools::{self, ServerVersion};
use crate::plumbing::terminal;
use crate::plumbing::{project, readiness_probe, recovery, target_database};

/// The deploy report, written as JSON (this shape is documented in README) and as text.
#[derive(Debug, Serialize)]
pub struct Report {
    database: String,
    started_at: String,
    finished_at: String,
    pub outcome: Outcome,
    pub exit_code: Exit,
    pub starting_version: Version,
    pub final_version: Version,
    migrations: Vec<MigrationReport>,
    pub backup: Option<BackupReport>,
    checks: Vec<CheckReport>,
    restore_command: Option<String>,
    pub error: Option<String>,
}

/// How a deploy ended, serialised as the strings README documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Deployed,
    UpToDate,
    DryRun,
    Refused,
    RolledBack,
    NotRolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::UpToDate => "up_to_date",
            Outcome::DryRun => "dry_run",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled_back",
            Outcome::NotRolledBack => "not_rolled_back",
        }
    }
}

impl Outcome {
    /// The migration log's word for this outcome (the same as the report's).
    fn logged(self) -> journal::Outcome {
        match self {
            Outcome::Deployed => journal::Outcome::Deployed,
            Outcome::UpToDate => journal::Outcome::UpToDate,
            Outcome::DryRun => journal::Outcome::DryRun,
            Outcome::Refused => journal::Outcome::Refused,
            Outcome::RolledBack => journal::Outcome::RolledBack,
            Outcome::NotRolledBack => journal::Outcome::NotRolledBack,
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Serialize)]
struct MigrationReport {
    version: Version,
    name: String,
    /// The linter's class: `safe`, `risky` or `multi-step`.
    class: String,
    duration_ms: Option<u128>,
    /// `applied`, `failed`, `rolled_back` or `not_run`.
    outcome: &'static str,
    rollback_duration_ms: Option<u128>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub path: String,
    size_bytes: u64,
    duration_ms: u128,
}

#[derive(Debug, Serialize)]
struct CheckReport {
    name: String,
    passed: bool,
    details: Vec<String>,
}

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
    let url = target_database::resolve(args.database.urls())?;
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
    let mut journal = Journal::open(args.change.log.path.as_deref(), "deploy-db", url)?;
    let mut deploy = Deploy {
        args,
        url,
        set,
        report: Report {
            database: url.redacted(),
            started_at: now_rfc3339(),
            finished_at: String::new(),
            outcome: Outcome::Refused,
            exit_code: Exit::Failure,
            starting_version: 0,
            final_version: 0,
            migrations: Vec::new(),
            backup: None,
            checks: Vec::new(),
            restore_command: None,
            error: None,
        },
        journal: &mut journal,
        shared,
        verdicts: Arc::default(),
    };
    let result = deploy.execute();
    let dry_run = matches!(result, Ok(Done::DryRun));
    let (outcome, code, error) = match result {
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
    let mut report = deploy.report;
    report.outcome = outcome;
    report.exit_code = code;
    report.error = error.clone();
    report.finished_at = now_rfc3339();
    let subject = Subject::Deploy {
        version: report.final_version,
    };
    journal.record(&Entry {
        error,
        ..Entry::new(subject, outcome.logged())
    })?;
    let written_to = if dry_run {
        None
    } else {
        let (json, text) = write_report_files(
            args.report.as_deref(),
            &format!("deploy-{}", url.database()),
            &report.started_at,
            &report,
            &text_report(&report),
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

impl<'a> Deploy<'a> {
    fn execute(&mut self) -> Result<Done, Stop> {
        let url = self.url;
        let application = format!("{} deploy-db", target_database::APPLICATION);
        step("preflight");
        let mut client = url.connect(&application).map_err(|error| {
            let message = error.to_string();
            self.check("connect", false, vec![message.clone()]);
            refused(message)
        })?;
        let server = ServerVersion::query(&mut client)?;
        self.check("connect", true, vec![format!("{url}: {server}")]);
        // Held from before the plan is made until the end, so what was checked is what runs.
        let _lock = if self.args.dry_run {
            None
        } else {
            Some(
                target_database::lock(url, "deploy-db", self.args.change.lock_wait).map_err(
                    |error| {
                        let message = format!("{error:#}");
                        self.check("migration lock", false, vec![message.clone()]);
                        refused(message)
                    },
                )?,
            )
        };
        if !self.args.dry_run {
            recovery::recover(
                &mut client,
                self.set,
                self.journal,
                &recovery::OrphanPolicy::of(&self.args.change),
                &target_database::applied_by(url),
            )
            .map_err(|error| {
                let message = format!("{error:#}");
                self.check("unfinished runs settled", false, vec![message.clone()]);
                refused(message)
            })?;
        }
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
            outln!("{url} is up to date at version {starting}");
            self.after_checks(&mut client)
                .map_err(|message| refused(format!("nothing was pending, but {message}")))?;
            return Ok(Done::UpToDate);
        }
        if !self.args.yes {
            confirm(url, pending.len())?;
        }

        step("backup");
        let backup_options = backup::Options {
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
        let outcome = backup::create(url, &backup_options);
        backup::log(self.journal, &outcome, started.elapsed())?;
        let backup = outcome.map_err(|error| {
            let message = format!("backup failed, nothing was changed: {error:#}");
            self.check("backup", false, vec![message.clone()]);
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
        self.check("backup readable", true, backup.verified.clone());
        let restore_command = format!(
            "cargo xtask restore {} --target-db {} --drop-existing --yes",
            pg_tools::shell_quote(&backup_path.display().to_string()),
            pg_tools::shell_quote(url.database())
        );

        // The data as it was, to prove a rollback brought it back (a full read of every table,
        // so only when a rollback may happen).
        let before = if self.args.rollback_on_failure {
            Some(pg_tools::fingerprints(&mut client)?)
        } else {
            None
        };

        step("migrate");
        history::ensure_tables(&mut client).context("creating the history tables")?;
        let settings = self
            .args
            .change
            .runner_settings(target_database::applied_by(url));
        let mut recorder = Recorder {
            reporter: Reporter::new(self.journal),
            runs: HashMap::new(),
        };
        let outcome =
            Runner::new(&mut client, settings.clone()).run(&pending, Direction::Up, &mut recorder);
        let runs = std::mem::take(&mut recorder.runs);
        recorder.reporter.finish()?;
        let mut failed: Option<&Migration> = None;
        for migration in &pending {
            let run = runs.get(&(migration.version, Direction::Up));
            let outcome = match run {
                Some((_, None)) => "applied",
                Some((_, Some(_))) => {
                    failed = Some(migration);
                    "failed"
                }
                None => "not_run",
            };
            self.report.migrations.push(MigrationReport {
                version: migration.version,
                name: migration.name.clone(),
                class: self.risk_of(migration.version),
                duration_ms: run.map(|(duration, _)| duration.as_millis()),
                outcome,
                rollback_duration_ms: None,
                error: run.and_then(|(_, error)| error.clone()),
            });
        }
        let applied: Vec<&Migration> = pending
            .iter()
            .copied()
            .filter(|migration| {
                matches!(
                    runs.get(&(migration.version, Direction::Up)),
                    Some((_, None))
                )
            })
            .collect();
        self.report.final_version = current_version(&mut client)?;

        let failure = match outcome {
            Err(error) => Some(format!("{error}")),
            Ok(()) => {
                step("verify");
                self.after_checks(&mut client).err()
            }
        };
        let Some(failure) = failure else {
            outln!(
                "deployed {url}: version {starting} -> {}",
                self.report.final_version
            );
            return Ok(Done::Deployed);
        };

        step("failure");
        if applied.is_empty() && failed.is_none_or(|m| !m.up.directives.no_transaction) {
            // The first migration failed inside its own transaction: nothing changed.
            return Err(refused(format!(
                "{failure}; nothing was changed (still at version {starting})"
            )));
        }
        let not_rolled_back = |why: String, version: Version| {
            Stop {
            exit: Exit::NotRolledBack,
            message: format!(
                "{failure}; not rolled back ({why}); {url} is at version {version}; restore the backup taken before this deploy with: {restore_command}"
            ),
        }
        };
        let why_not = self.why_no_rollback(&applied, failed);
        if let Some(why) = why_not {
            self.report.restore_command = Some(restore_command.clone());
            outln!("not rolling back: {why}");
            outln!("to restore the backup taken before this deploy:\n  {restore_command}");
            return Err(not_rolled_back(why, self.report.final_version));
        }

        step("rollback");
        let rolled_back = self.roll_back(&mut client, settings, starting);
        self.report.final_version = current_version(&mut client)?;
        if let Err(error) = rolled_back {
            self.report.restore_command = Some(restore_command.clone());
            outln!("to restore the backup taken before this deploy:\n  {restore_command}");
            return Err(not_rolled_back(
                format!("the rollback failed: {error:#}"),
                self.report.final_version,
            ));
        }
        let after = pg_tools::fingerprints(&mut client)?;
        let mut differences =
            pg_tools::compare_fingerprints(before.as_ref().unwrap_or(&after), &after);
        // The engine's history tables, created by this run on a database that had none.
        differences.retain(|line| {
            !(line.ends_with("not there before")
                && [history::REFINERY_TABLE, history::STATE_TABLE]
                    .iter()
                    .any(|table| line.contains(&format!(".{table}:"))))
        });
        let tables = after.len();
        let intact = differences.is_empty();
        self.check(
            "data intact after the rollback",
            intact,
            if intact {
                vec![format!(
                    "{tables} tables: every row count and content checksum equal to before the deploy"
                )]
            } else {
                differences.clone()
            },
        );
        if !intact {
            self.report.restore_command = Some(restore_command.clone());
            outln!("to restore the backup taken before this deploy:\n  {restore_command}");
            return Err(not_rolled_back(format!(
                "rolled back to version {}, but the data differs from before the deploy ({}): the application's own writes, or data the migrations changed that their rollbacks do not bring back",
                self.report.final_version,
                differences.join("; ")
            ), self.report.final_version));
        }
        Err(Stop {
            exit: Exit::RolledBack,
            message: format!(
                "{failure}; rolled back to the starting version {}, every table's content unchanged",
                self.report.final_version
            ),
        })
    }

    /// Every refusal, before anything is touched. Returns the pending migrations.
    fn preflight(
        &mut self,
        client: &mut Client,
        history: &History,
        server: &ServerVersion,
    ) -> Result<Vec<&'a Migration>, Stop> {
        let set: &'a MigrationSet = self.set;
        let unclean: Vec<String> = statuses(set, history)
            .iter()
            .filter(|status| {
                matches!(
                    status.state,
                    State::Modified | State::Missing | State::Failed
                )
            })
            .map(|status| match &status.error {
                Some(error) => format!("{} is {}: {error}", status.label(), status.state),
                None => format!("{} is {}", status.label(), status.state),
            })
            .collect();
        let clean = unclean.is_empty();
        self.check(
            "status clean (nothing modified, missing or failed)",
            clean,
            unclean,
        );
        if !clean {
            return Err(refused(
                "the migration status is not clean; see `cargo xtask status`",
            ));
        }
        let pending = plan::plan_migrate(set, history, None, false).map_err(|error| {
            self.check("plan", false, vec![error.to_string()]);
            refused(error.to_string())
        })?;
        self.check(
            "plan",
            true,
            vec![if pending.is_empty() {
                "nothing pending".to_owned()
            } else {
                format!(
                    "{} pending: {}",
                    pending.len(),
                    pending
                        .iter()
                        .map(|migration| migration.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }],
        );

        let mut failures = Vec::new();
        if !pending.is_empty() {
            let versions: Vec<Version> =
                pending.iter().map(|migration| migration.version).collect();
            let (verdicts, unavailable) = self.shared.judge(&set.dir, &versions, self.url);
            let mut details = Vec::new();
            if let Some(reason) = unavailable {
                details.push(format!("trace unavailable, static verdict only: {reason}"));
            }
            let mut needs_window = Vec::new();
            let mut estimates = Vec::new();
            for migration in &pending {
                let Some(verdict) = verdicts.get(&migration.version) else {
                    needs_window.push(format!("{} could not be linted", migration.label()));
                    continue;
                };
                let mut line = format!("{}: {}", migration.label(), verdict.risk);
                if !verdict.findings.is_empty() {
                    line.push_str(&format!(" ({})", verdict.findings.join("; ")));
                }
                details.push(line);
                if verdict.risk != Risk::Safe {
                    needs_window.push(format!("{} is {}", migration.label(), verdict.risk));
                }
                if let Some(failure) = verdict
                    .trace
                    .as_ref()
                    .and_then(|trace| trace.failure.as_ref())
                {
                    details.push(format!(
                        "{}: the trace stopped where PostgreSQL refused the statement at {failure}",
                        migration.label()
                    ));
                }
                if let Some(trace) = &verdict.trace {
                    estimates.extend(
                        lock_lines(client, trace, true)
                            .context("reading table sizes on the target")?
                            .into_iter()
                            .map(|line| format!("{} {line}", migration.label())),
                    );
                }
            }
            details.extend(estimates);
            self.verdicts = verdicts;
            let passed = needs_window.is_empty() || self.args.maintenance_window;
            if !passed {
                failures.push(format!(
                    "{} and needs --maintenance-window (run it while the application is stopped, or split it as `cargo xtask lint` explains)",
                    needs_window.join(", ")
                ));
            } else if !needs_window.is_empty() {
                details.push("accepted: --maintenance-window".to_owned());
            }
            self.check("lint: pending migrations' class", passed, details);
        }

        let invalid = history::invalid_indexes(client).context("listing invalid indexes")?;
        if invalid.is_empty() {
            self.check("no INVALID index", true, Vec::new());
        } else {
            let details: Vec<String> = invalid
                .iter()
                .map(|index| format!("{index} is INVALID: drop it and build it again first"))
                .collect();
            failures.push(format!("INVALID index {}", invalid.join(", ")));
            self.check("no INVALID index", false, details);
        }

        if !pending.is_empty() {
            let sh = Shell::new().context("starting a shell")?;
            for name in ["pg_dump", "pg_restore"] {
                match pg_tools::find(&sh, name, server) {
                    Ok(tool) => self.check(
                        name,
                        true,
                        vec![format!("{} {}", tool.path.display(), tool.version)],
                    ),
                    Err(error) => {
                        let message = format!("{error:#}");
                        self.check(name, false, vec![message.clone()]);
                        failures.push(message);
                    }
                }
            }
        }
        if !failures.is_empty() {
            return Err(refused(format!(
                "preflight refused the deploy, nothing was changed: {}",
                failures.join("; ")
            )));
        }
        Ok(pending)
    }

    /// `--dry-run`: each pending migration, its class and SQL, and what would be backed up.
    fn print_plan(
        &mut self,
        client: &mut Client,
        pending: &[&Migration],
        starting: Version,
    ) -> Result<(), Stop> {
        step("plan (dry run: nothing is changed)");
        outln!("{} at version {starting}", self.url);
        if pending.is_empty() {
            outln!("nothing pending: no backup, no migration");
            return Ok(());
        }
        for migration in pending {
            let transaction = if migration.up.directives.no_transaction {
                "outside a transaction"
            } else {
                "in a transaction"
            };
            outln!(
                "\n{}  [{}, {transaction}]",
                migration.label(),
                self.risk_of(migration.version)
            );
            for line in migration.up.sql.lines() {
                outln!("    | {line}");
            }
            if let Some(trace) = self
                .verdicts
                .get(&migration.version)
                .and_then(|verdict| verdict.trace.as_ref())
            {
                for line in lock_lines(client, trace, false).context("reading table sizes")? {
                    outln!("  {line}");
                }
            }
        }
        let row = client
            .query_one(
                "SELECT pg_database_size(current_database())::int8,
                        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
                           AND n.nspname NOT LIKE 'pg\\_%')",
                &[],
            )
            .context("measuring the database")?;
        let (size, tables): (i64, i64) = (row.get(0), row.get(1));
        let dir = self
            .args
            .backup_dir
            .clone()
            .unwrap_or_else(backup::default_dir);
        outln!(
            "\nbackup first: {} ({tables} tables, {} on the server) with pg_dump --format=custom into {}/{}-<UTC time>-v{starting}.dump, read back with pg_restore --list",
            self.url,
            pg_tools::human_size(u64::try_from(size).unwrap_or_default()),
            dir.display(),
            self.url.database()
        );
        outln!(
            "then apply {} migration{}, verify{}",
            pending.len(),
            if pending.len() == 1 { "" } else { "s" },
            if self.args.health_url.is_some() {
                ", health check"
            } else {
                ""
            }
        );
        Ok(())
    }

    /// `verify` and the health check; `Err` names what failed.
    fn after_checks(&mut self, client: &mut Client) -> Result<(), String> {
        let snapshot = project::snapshot_path(&self.set.dir, self.args.snapshot.as_deref());
        let expectations = Expectations {
            snapshot: &snapshot,
            allow_pending: false,
            strict_column_order: false,
        };
        let mut failed = Vec::new();
        match verify::checks(client, self.set, &expectations) {
            Ok(checks) => {
                for check in checks {
                    if !check.passed {
                        failed.push(format!("verify: {}", check.name));
                    }
                    self.check(
                        &format!("verify: {}", check.name),
                        check.passed,
                        check.details,
                    );
                }
            }
            Err(error) => {
                let message = format!("{error:#}");
                self.check("verify", false, vec![message.clone()]);
                failed.push(format!("verify: {message}"));
            }
        }
        match &self.args.health_url {
            Some(given) => {
                let url = readiness_probe::ready_url(given);
                match readiness_probe::wait_ready(&url, self.args.health_timeout) {
                    Ok(said) => self.check("health check", true, vec![said]),
                    Err(said) => {
                        failed.push(format!("health check: {said}"));
                        self.check("health check", false, vec![said]);
                    }
                }
            }
            None => self.check(
                "health check",
                true,
                vec!["skipped: no --health-url".to_owned()],
            ),
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
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
        settings: migrations::runner::Settings,
        starting: Version,
    ) -> Result<()> {
        let history = history::read(client).context("reading the migration history")?;
        let chosen = plan::plan_rollback(self.set, &history, RollbackTarget::To(starting))?;
        let mut recorder = Recorder {
            reporter: Reporter::new(self.journal),
            runs: HashMap::new(),
        };
        let outcome = Runner::new(client, settings).run(&chosen, Direction::Down, &mut recorder);
        let runs = std::mem::take(&mut recorder.runs);
        recorder.reporter.finish()?;
        for report in &mut self.report.migrations {
            if let Some((duration, error)) = runs.get(&(report.version, Direction::Down)) {
                report.rollback_duration_ms = Some(duration.as_millis());
                if error.is_none() {
                    report.outcome = "rolled_back";
                }
            }
        }
        outcome?;
        Ok(())
    }

    fn risk_of(&self, version: Version) -> String {
        self.verdicts
            .get(&version)
            .map_or_else(|| "unknown".to_owned(), |verdict| verdict.risk.to_string())
    }

    /// Records a check in the report and the migration log, and prints it.
    fn check(&mut self, name: &str, passed: bool, details: Vec<String>) {
        outln!("{:<4}  {name}", if passed { "ok" } else { "FAIL" });
        for detail in &details {
            for line in detail.lines() {
                outln!("      {line}");
            }
        }
        let outcome = if passed {
            journal::Outcome::Passed
        } else {
            journal::Outcome::Failed
        };
        let _ = self.journal.record(&Entry {
            error: (!passed).then(|| details.join("; ")),
            ..Entry::new(Subject::Check(name), outcome)
        });
        self.report.checks.push(CheckReport {
            name: name.to_owned(),
            passed,
            details,
        });
    }
}

/// Forwards the runner's events to the printing, logging reporter, and keeps each migration's
/// duration and error.
struct Recorder<'j> {
    reporter: Reporter<'j>,
    runs: HashMap<(Version, Direction), (Duration, Option<String>)>,
}

impl Observer for Recorder<'_> {
    fn event(&mut self, event: &Event<'_>) {
        self.reporter.event(event);
        match *event {
            Event::Finished {
                migration,
                direction,
                duration,
            } => {
                self.runs
                    .insert((migration.version, direction), (duration, None));
            }
            Event::Failed {
                migration,
                direction,
                duration,
                error,
            } => {
                self.runs.insert(
                    (migration.version, direction),
                    (duration, Some(error.to_string())),
                );
            }
            _ => {}
        }
    }
}

/// Whether SQL holds anything but comments and blanks.
/// Per traced statement that locks a pre-existing table: its lock, what the lock blocks, the work
/// done under it, the table's size on the target and, for blocking work, the expected lock
/// duration (the trace's time per generated row times the target's row estimate). With
/// `blocking_only`, just the statements whose lock blocks writes while they work.
fn lock_lines(
    client: &mut Client,
    trace: &linter::trace::FileTrace,
    blocking_only: bool,
) -> Result<Vec<String>, postgres::Error> {
    let mut lines = Vec::new();
    for statement in &trace.statements {
        let Some(observed) = &statement.trace else {
            continue;
        };
        let blocking = observed.blocking_work();
        if blocking_only && blocking.is_empty() {
            continue;
        }
        let Some(lock) = blocking
            .first()
            .and_then(|work| work.mode.map(|mode| (work.table.clone(), mode)))
            .or_else(|| {
                observed
                    .strongest_lock()
                    .map(|lock| (lock.table.clone(), lock.mode))
            })
        else {
            continue;
        };
        let (table, mode) = lock;
        let work = blocking
            .iter()
            .find(|work| work.table == table)
            .map_or_else(|| "catalog only".to_owned(), |work| work.work.join(" and "));
        let row = client.query_one(
            "SELECT c.reltuples::int8, pg_total_relation_size(c.oid)
             FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid",
            &[&table],
        )?;
        let (target_rows, size): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        let mut line = format!(
            "line {} `{}`: {mode} on {table} (blocks {}), {work}",
            statement.line,
            statement.head,
            mode.blocks().describe()
        );
        match (target_rows, size) {
            (Some(rows), Some(size)) => {
                // A table never analysed says -1: its size is all there is to go on.
                let rows = u64::try_from(rows).ok();
                line.push_str(&format!(
                    "; on the target: {} rows, {}",
                    rows.map_or_else(|| "unknown".to_owned(), |rows| rows.to_string()),
                    pg_tools::human_size(u64::try_from(size).unwrap_or_default())
                ));
                let traced_rows = observed.table_rows.get(&table).copied().unwrap_or(0);
                if let (false, Some(rows), true) = (blocking.is_empty(), rows, traced_rows > 0) {
                    let per_row = observed.duration.as_secs_f64() / traced_rows as f64;
                    line.push_str(&format!(
                        "; expected lock about {} (trace: {:.1} ms for {traced_rows} rows)",
                        pg_tools::seconds(Duration::from_secs_f64(per_row * rows as f64)),
                        observed.duration.as_secs_f64() * 1000.0
                    ));
                }
            }
            _ => line.push_str("; not on the target yet (an earlier pending migration creates it)"),
        }
        lines.push(line);
    }
    Ok(lines)
}

fn has_statements(sql: &str) -> bool {
    sql.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--") && line != ";"
    })
}

/// Asks on the terminal before changing a database when `--yes` was not given.
fn confirm(url: &DatabaseUrl, pending: usize) -> Result<(), Stop> {
    let answer = terminal::ask(&format!(
        "apply {pending} migration{} to {url}? type yes to go on: ",
        if pending == 1 { "" } else { "s" }
    ))?;
    if answer == "yes" {
        Ok(())
    } else {
        Err(refused("not confirmed; nothing was changed"))
    }
}

fn current_version(client: &mut Client) -> Result<Version> {
    Ok(history::read(client)
        .context("reading the migration history")?
        .newest_applied()
        .unwrap_or(0))
}

fn step(name: &str) {
    outln!("==> {name}");
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Writes `<kind>-<time>.json` and `.txt` under the report folder (default
/// `target/xtask/deploys`): the deploy's own report, and a fleet's summary.
pub fn write_report_files(
    dir: Option<&Path>,
    kind: &str,
    started_at: &str,
    json: &impl Serialize,
    text: &str,
) -> Result<(PathBuf, PathBuf)> {
    let dir = dir.map_or_else(|| project::target_dir().join("deploys"), Path::to_path_buf);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let stamp: String = started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let json_path = dir.join(format!("{kind}-{stamp}.json"));
    let text_path = dir.join(format!("{kind}-{stamp}.txt"));
    std::fs::write(&json_path, serde_json::to_string_pretty(json)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&text_path, text)
        .with_context(|| format!("cannot write {}", text_path.display()))?;
    Ok((json_path, text_path))
}

fn text_report(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("deploy-db of {}", report.database));
    line(format!("started   {}", report.started_at));
    line(format!("finished  {}", report.finished_at));
    line(format!(
        "outcome   {} (exit {})",
        report.outcome.as_str(),
        report.exit_code.code()
    ));
    line(format!(
        "version   {} -> {}",
        report.starting_version, report.final_version
    ));
    if let Some(error) = &report.error {
        line(format!("error     {error}"));
    }
    if let Some(backup) = &report.backup {
        line(format!(
            "backup    {} ({} bytes, {} ms)",
            backup.path, backup.size_bytes, backup.duration_ms
        ));
    }
    if let Some(command) = &report.restore_command {
        line(format!("restore   {command}"));
    }
    line(String::new());
    line("migrations".to_owned());
    for migration in &report.migrations {
        let duration = migration
            .duration_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
        let mut text = format!(
            "  {:<40} {:<11} {:<12} {duration}",
            migrations::model::label(migration.version, &migration.name),
            migration.class,
            migration.outcome
        );
        if let Some(ms) = migration.rollback_duration_ms {
            text.push_str(&format!(", rollback {ms} ms"));
        }
        line(text);
        if let Some(error) = &migration.error {
            line(format!("      {error}"));
        }
    }
    line(String::new());
    line("checks".to_owned());
    for check in &report.checks {
        line(format!(
            "  {:<4}  {}",
            if check.passed { "ok" } else { "FAIL" },
            check.name
        ));
        for detail in &check.details {
            line(format!("        {detail}"));
        }
    }
    out
}
