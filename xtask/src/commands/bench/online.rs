//! `cargo xtask bench online`: schema changes deployed under the backend's read/write load.
//!
//! Twice, each time on a fresh scratch database migrated to the project's head with `tickets`
//! filled server-side: the release backend is started, client threads drive it (lists, creates,
//! status changes) recording every request's latency, and meanwhile
//!
//! 1. "ours": `cargo xtask deploy-db` applies pending migrations written the safe way (an index
//!    built concurrently, a column added with a constant default, a foreign key added NOT VALID
//!    and validated in the next migration) plus, when `cargo xtask new --expand-contract` accepts
//!    it, the expand and backfill steps of renaming tickets.title to subject;
//! 2. "naive": `cargo xtask migrate` applies their naive forms (plain CREATE INDEX, ADD COLUMN
//!    NOT NULL with a volatile default, a validated FOREIGN KEY), which deploy-db's linter refuses;
//! 3. with `--project-from V`, "project": the scratch database stops before V, `users` gets as
//!    many accounts as `tickets` has rows, the load adds registrations, and `cargo xtask
//!    deploy-db` applies the project's own migrations from V on (such as V0009/V0010, the
//!    case-insensitive email index).
//!
//! Printed for each: the longest stall any request saw while the change ran, p99, and requests.
//! Target: no request stalls longer than 1 s with our forms and the project's.

mod load;
mod steps;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, MigrationSet, ScratchDatabase, Version};
use xshell::{cmd, Shell};

use super::writer::percentile;
use crate::plumbing::{project, target_database};
use load::{Load, Request};
use steps::Forms;

const TARGET_LONGEST_STALL: Duration = Duration::from_secs(1);
/// Load before and after the change, so the window is surrounded by steady traffic.
const SETTLE: Duration = Duration::from_secs(3);

struct Outcome {
    forms: Forms,
    change: Duration,
    during: Vec<Duration>,
    longest: Duration,
    before_p99: f64,
    errors: usize,
    notes: Vec<String>,
}

/// What every phase shares: the tools it runs and where.
struct Bench<'a> {
    sh: &'a Shell,
    xtask: &'a Path,
    /// The release backend's binary.
    binary: &'a Path,
    server: &'a DatabaseUrl,
    set: &'a MigrationSet,
    rows: u64,
    clients: usize,
}

pub fn run(
    rows: u64,
    clients: usize,
    project_from: Option<Version>,
    database_url: Option<&str>,
) -> Result<()> {
    let server = target_database::server(database_url)?;
    let set = target_database::load(None)?;
    let sh = Shell::new()?;
    sh.change_dir(project::root());
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let binary = super::backend::build(&sh, None)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    if let Some(from) = project_from {
        anyhow::ensure!(
            set.migrations
                .iter()
                .any(|migration| migration.version >= from),
            "--project-from {from}: the project has no migration from version {from} on"
        );
    }
    let bench = Bench {
        sh: &sh,
        xtask: &xtask,
        binary: &binary,
        server: &server,
        set: &set,
        rows,
        clients,
    };
    let mut outcomes = Vec::new();
    let phases = [Forms::Ours, Forms::Naive]
        .into_iter()
        .chain(project_from.map(Forms::Project));
    for forms in phases {
        let folder = work.path().join(forms.name());
        let notes = steps::write(&sh, &xtask, &server, &folder, forms)?;
        outcomes.push(bench.phase(&folder, forms, notes)?);
    }
    print_table(&outcomes, rows, clients);
    Ok(())
}

/// Every phase's line, its notes, and whether the target was met.
fn print_table(outcomes: &[Outcome], rows: u64, clients: usize) {
    println!();
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>14} {:>12} {:>7}",
        "forms", "change s", "requests", "p99 ms", "longest stall", "p99 before", "errors"
    );
    for outcome in outcomes {
        let mut during = outcome.during.clone();
        during.sort();
        println!(
            "{:<8} {:>10.2} {:>10} {:>10.1} {:>11.1} ms {:>9.1} ms {:>7}",
            outcome.forms.name(),
            outcome.change.as_secs_f64(),
            during.len(),
            percentile(&during, 0.99),
            outcome.longest.as_secs_f64() * 1e3,
            outcome.before_p99,
            outcome.errors
        );
    }
    for outcome in outcomes {
        for note in &outcome.notes {
            println!("{}: {note}", outcome.forms.name());
        }
    }
    println!(
        "(longest stall: the longest request that overlapped the change; requests and p99: those \
         started while it ran; {rows} tickets, {clients} clients)"
    );
    for outcome in outcomes
        .iter()
        .filter(|outcome| outcome.forms.held_to_target())
    {
        println!(
            "target: with the {} forms no request stalls longer than {} s: longest {:.1} ms: {}",
            outcome.forms.name(),
            TARGET_LONGEST_STALL.as_secs(),
            outcome.longest.as_secs_f64() * 1e3,
            if outcome.longest < TARGET_LONGEST_STALL && outcome.errors == 0 {
                "met"
            } else {
                "NOT MET"
            }
        );
    }
}

impl Bench<'_> {
    /// One phase: a filled scratch database served by the backend under load, the change
    /// deployed in the middle of it, the requests measured around the change.
    fn phase(&self, folder: &Path, forms: Forms, mut notes: Vec<String>) -> Result<Outcome> {
        let name = forms.name();
        let (scratch, accounts) = self.scratch(forms)?;
        let admin = super::backend::create_admin(self.sh, self.binary, scratch.url())?;
        let queue_id = load::fill(scratch.url(), self.rows, accounts)?;
        super::measure::settle(self.server);
        // Before the project's migrations the backend serves but is not ready (its schema is
        // behind the build), as when a release ships the backend before its migrations.
        let probe = match forms {
            Forms::Project(_) => "/health",
            Forms::Ours | Forms::Naive => "/health/ready",
        };
        let backend = super::backend::start(self.sh, self.binary, scratch.url(), probe)?;
        let load = Load::start(
            self.clients,
            &load::Target {
                base: backend.base.clone(),
                token: admin,
                queue_id,
                rows: self.rows,
                registrations: matches!(forms, Forms::Project(_)),
            },
        );
        std::thread::sleep(SETTLE);
        let change_started = load.started.elapsed();
        let result = self.change(folder, forms, &scratch.url().secret_conninfo())?;
        let change_ended = load.started.elapsed();
        std::thread::sleep(SETTLE);
        let (requests, errors) = load.stop()?;
        let command = match forms {
            Forms::Ours | Forms::Project(_) => "deploy-db",
            Forms::Naive => "migrate",
        };
        if !result.status.success() {
            let stdout = String::from_utf8_lossy(&result.stdout);
            let stderr = String::from_utf8_lossy(&result.stderr);
            anyhow::bail!(
                "[{name}] {command} failed ({}):\n{}\n{}",
                result.status,
                stdout.trim(),
                stderr.trim()
            );
        }
        if forms != Forms::Naive {
            notes.extend(deploy_notes(folder, &result));
        }
        let outcome = measure(
            &requests,
            change_started..change_ended,
            forms,
            errors,
            notes,
        );
        println!(
            "[{name}] {command} took {:.2} s; {} requests meanwhile, longest stall {:.1} ms, {errors} errors",
            outcome.change.as_secs_f64(),
            outcome.during.len(),
            outcome.longest.as_secs_f64() * 1e3
        );
        Ok(outcome)
    }

    /// The phase's scratch database, filled later; returns it with the count of users to add.
    fn scratch(&self, forms: Forms) -> Result<(ScratchDatabase, u64)> {
        let (name, rows) = (forms.name(), self.rows);
        match forms {
            Forms::Project(from) => {
                println!(
                    "[{name}] a scratch database before version {from}, {rows} tickets and {rows} users"
                );
                let before = MigrationSet {
                    dir: self.set.dir.clone(),
                    migrations: self
                        .set
                        .migrations
                        .iter()
                        .filter(|migration| migration.version < from)
                        .cloned()
                        .collect(),
                };
                Ok((
                    target_database::migrated_scratch(self.server, &before)?,
                    rows,
                ))
            }
            Forms::Ours | Forms::Naive => {
                println!("[{name}] a scratch database at the project's head, {rows} tickets");
                Ok((target_database::migrated_scratch(self.server, self.set)?, 0))
            }
        }
    }

    /// Deploys the phase's migrations: deploy-db for the safe forms, migrate for the naive ones.
    fn change(&self, folder: &Path, forms: Forms, conninfo: &str) -> Result<Output> {
        let (sh, xtask) = (self.sh, self.xtask);
        let dir = folder.join("sql");
        let log = folder.join("migrations.log");
        let command = match forms {
            Forms::Ours | Forms::Project(_) => {
                let (backups, reports) = (folder.join("backups"), folder.join("deploys"));
                cmd!(
                    sh,
                    "{xtask} deploy-db --yes --maintenance-window --dir {dir} --log {log} --backup-dir {backups} --report {reports}"
                )
            }
            Forms::Naive => cmd!(sh, "{xtask} migrate --dir {dir} --log {log}"),
        };
        Ok(command
            .env("DATABASE_URL", conninfo)
            .quiet()
            .ignore_status()
            .output()?)
    }
}

/// What deploy-db did that the reader should know: its migrations' classes, its backup.
fn deploy_notes(folder: &Path, result: &Output) -> Vec<String> {
    let mut notes = deployed_classes(&folder.join("deploys"));
    let stdout = String::from_utf8_lossy(&result.stdout);
    if let Some(backup) = stdout.lines().find(|line| line.contains(".dump")) {
        notes.push(format!(
            "deploy-db took its backup inside the window (it has no flag to skip it): {}",
            backup.trim()
        ));
    }
    notes
}

/// The requests before the change (p99), started during it, and the longest that overlapped it.
fn measure(
    requests: &[Request],
    change: std::ops::Range<Duration>,
    forms: Forms,
    errors: usize,
    notes: Vec<String>,
) -> Outcome {
    let mut before: Vec<Duration> = requests
        .iter()
        .filter(|request| request.started + request.latency < change.start)
        .map(|request| request.latency)
        .collect();
    before.sort();
    let during: Vec<Duration> = requests
        .iter()
        .filter(|request| request.started >= change.start && request.started <= change.end)
        .map(|request| request.latency)
        .collect();
    let longest = requests
        .iter()
        .filter(|request| {
            request.started <= change.end && request.started + request.latency >= change.start
        })
        .map(|request| request.latency)
        .max()
        .unwrap_or_default();
    Outcome {
        forms,
        change: change.end - change.start,
        during,
        longest,
        before_p99: percentile(&before, 0.99),
        errors,
        notes,
    }
}

/// What deploy-db's report says of each migration it ran: class, duration.
fn deployed_classes(reports: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(reports) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for entry in entries.filter_map(|entry| entry.ok()) {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let Ok(report) = std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(serde_json::from_str::<serde_json::Value>(&text)?))
        else {
            continue;
        };
        for migration in report["migrations"].as_array().into_iter().flatten() {
            notes.push(format!(
                "deploy-db: V{:04} {} ({}) {} in {} ms",
                migration["version"].as_i64().unwrap_or_default(),
                migration["name"].as_str().unwrap_or_default(),
                migration["class"].as_str().unwrap_or_default(),
                migration["outcome"].as_str().unwrap_or_default(),
                migration["duration_ms"].as_i64().unwrap_or_default()
            ));
        }
    }
    notes
}
