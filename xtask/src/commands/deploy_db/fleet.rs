//! `deploy-db --fleet`: every database of a fleet through `deploy-db`'s own code, in-process.
//! The canaries first, one after another; then the rest, `--parallel` at a time on threads. At
//! the first failure no database starts any more (those running finish). A database already at
//! the head is skipped, so running the same command again after a failure resumes. The summary,
//! one row per database, is printed and written as `fleet-<time>.json` and `.txt` beside the
//! deploy reports.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use migrations::{history, statuses, MigrationSet, State, Version};
use serde::{Serialize, Serializer};

use super::report::{write_report_files, Outcome as DeployOutcome};
use super::single::deploy;
use super::verdicts::Verdicts;
use crate::exit::Exit;
use crate::flags::DeployDbArgs;
use crate::plumbing::fleet::{Fleet, Member};
use crate::plumbing::output::{self, outln};
use crate::plumbing::terminal;
use crate::plumbing::{pg_tools, target_database};

/// How one database of the fleet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// What its `deploy-db` said (`deployed`, `up_to_date`, `dry_run`, `refused`,
    /// `rolled_back`, `not_rolled_back`).
    Deploy(DeployOutcome),
    /// Already at the head when its turn came: not deployed again.
    Skipped,
    /// Never started: a canary or another database failed first.
    NotStarted,
    /// Its deploy could not write the migration log or its report.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deploy(outcome) => outcome.as_str(),
            Outcome::Skipped => "skipped",
            Outcome::NotStarted => "not_started",
            Outcome::Error => "error",
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One database's row of the summary (README documents the shape).
#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    pub database: String,
    pub canary: bool,
    /// 1 for the first database started, 2 for the next...; null when not started.
    pub order: Option<usize>,
    pub outcome: Outcome,
    /// Its `deploy-db`'s exit code; null when not started.
    pub exit_code: Option<Exit>,
    pub version_before: Option<Version>,
    pub version_after: Option<Version>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u128>,
    /// The backup this deploy took before migrating.
    pub backup: Option<String>,
    /// Its own deploy report (JSON).
    pub report: Option<String>,
    pub error: Option<String>,
}

impl Row {
    fn not_started(member: &Member) -> Row {
        Row {
            name: member.name.clone(),
            database: member.url.redacted(),
            canary: member.canary,
            order: None,
            outcome: Outcome::NotStarted,
            exit_code: None,
            version_before: None,
            version_after: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            backup: None,
            report: None,
            error: None,
        }
    }

    fn failed(&self) -> bool {
        self.exit_code.is_some_and(|exit| exit != Exit::Success)
    }
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    fleet: String,
    head: Version,
    parallel: usize,
    started_at: String,
    finished_at: String,
    outcome: SummaryOutcome,
    exit_code: Exit,
    databases: &'a [Row],
}

/// How the whole fleet ended, serialised as README documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum SummaryOutcome {
    /// Every database deployed, up to date or skipped.
    Deployed,
    Failed,
    DryRun,
}

impl SummaryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            SummaryOutcome::Deployed => "deployed",
            SummaryOutcome::Failed => "failed",
            SummaryOutcome::DryRun => "dry_run",
        }
    }
}

pub fn run(args: &DeployDbArgs, set: &MigrationSet, file: Option<&Path>) -> Result<()> {
    let fleet = Fleet::load(file, set)?;
    if !args.dry_run && !args.yes {
        confirm(&fleet)?;
    }
    // Asked once for the whole fleet above; each database's deploy must not ask again.
    let member_args = DeployDbArgs {
        yes: true,
        ..args.clone()
    };
    let head = set.head().unwrap_or(0);
    let started_at = timestamp();
    let rows = deploy_all(&fleet, set, &member_args, args.parallel);
    let failed: Vec<&Row> = rows.iter().filter(|row| row.failed()).collect();
    let code = failed
        .iter()
        .filter_map(|row| row.exit_code)
        .max()
        .unwrap_or(Exit::Success);
    let summary = Summary {
        fleet: fleet.path.display().to_string(),
        head,
        parallel: args.parallel,
        started_at,
        finished_at: timestamp(),
        outcome: if !failed.is_empty() {
            SummaryOutcome::Failed
        } else if args.dry_run {
            SummaryOutcome::DryRun
        } else {
            SummaryOutcome::Deployed
        },
        exit_code: code,
        databases: &rows,
    };
    let table = table(&summary, fleet.name_width());
    print!("\n{table}");
    if !args.dry_run {
        let (json, text) = write_report_files(
            args.report.as_deref(),
            "fleet",
            &summary.started_at,
            &summary,
            &table,
        )?;
        println!("fleet report: {} and {}", json.display(), text.display());
    }
    if failed.is_empty() {
        return Ok(());
    }
    let not_started = rows
        .iter()
        .filter(|row| row.outcome == Outcome::NotStarted)
        .count();
    Err(code.error(
        format!(
            "{} of {} databases failed ({}); {not_started} not started; fix the cause and run the same command again: the databases already at the head are skipped",
            failed.len(),
            rows.len(),
            failed
                .iter()
                .map(|row| format!("{}: {}", row.name, row.outcome.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// The canaries one after another, then the rest `parallel` at a time; one row per database, in
/// the fleet file's order.
fn deploy_all(fleet: &Fleet, set: &MigrationSet, args: &DeployDbArgs, parallel: usize) -> Vec<Row> {
    let width = fleet.name_width();
    let verdicts = Verdicts::default();
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new(fleet.members.iter().map(|_| None).collect());
    // Starts and ends are decided and stamped under this one lock: a database starts only while
    // no failure is known, so every start is stamped before the first failure's end.
    let schedule = Mutex::new(Schedule {
        next: 0,
        started: 0,
        stop: false,
    });
    let (canaries, rest): (Vec<usize>, Vec<usize>) =
        (0..fleet.members.len()).partition(|&index| fleet.members[index].canary);
    let lock = || {
        schedule
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let work = |queue: &[usize]| loop {
        let (index, mut row) = {
            let mut schedule = lock();
            if schedule.stop || schedule.next >= queue.len() {
                return;
            }
            let index = queue[schedule.next];
            schedule.next += 1;
            schedule.started += 1;
            let row = Row {
                order: Some(schedule.started),
                started_at: Some(timestamp()),
                ..Row::not_started(&fleet.members[index])
            };
            (index, row)
        };
        let started = Instant::now();
        deploy_one(&fleet.members[index], &mut row, set, args, &verdicts, width);
        {
            let mut schedule = lock();
            schedule.stop |= row.failed();
            row.finished_at = Some(timestamp());
        }
        row.duration_ms = Some(started.elapsed().as_millis());
        rows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[index] = Some(row);
    };
    work(&canaries);
    lock().next = 0;
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(rest.len()) {
            scope.spawn(|| work(&rest));
        }
    });
    rows.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .zip(&fleet.members)
        .map(|(row, member)| row.unwrap_or_else(|| Row::not_started(member)))
        .collect()
}

struct Schedule {
    /// The next database of the queue being worked through.
    next: usize,
    /// How many databases have started, canaries included.
    started: usize,
    /// A database failed: none starts any more.
    stop: bool,
}

/// One database: skipped when already at the head, else its `deploy-db`, every line of its
/// output prefixed with its name.
fn deploy_one(
    member: &Member,
    row: &mut Row,
    set: &MigrationSet,
    args: &DeployDbArgs,
    verdicts: &Verdicts,
    width: usize,
) {
    output::prefixed(&format!("{:<width$}", member.name), || {
        if let Some(version) = at_head(member, set) {
            outln!("already at the head (version {version}): skipped");
            row.outcome = Outcome::Skipped;
            row.exit_code = Some(Exit::Success);
            row.version_before = Some(version);
            row.version_after = Some(version);
            return;
        }
        match deploy(&member.url, set, args, verdicts) {
            Ok(deployed) => {
                let report = deployed.report;
                row.outcome = Outcome::Deploy(report.outcome);
                row.exit_code = Some(report.exit_code);
                row.version_before = Some(report.starting_version);
                row.version_after = Some(report.final_version);
                row.backup = report.backup.map(|backup| backup.path);
                row.report = deployed.written_to.map(|path| path.display().to_string());
                row.error = report.error;
            }
            Err(error) => {
                row.outcome = Outcome::Error;
                row.exit_code = Some(Exit::Failure);
                row.error = Some(format!("{error:#}"));
            }
        }
        if let Some(error) = &row.error {
            outln!("{}: {error}", row.outcome.as_str());
        }
    });
}

/// The database's version when every migration file is applied and nothing else is wrong; `None`
/// when it has something to do (or cannot be read: its deploy then says why).
fn at_head(member: &Member, set: &MigrationSet) -> Option<Version> {
    let mut client = member
        .url
        .connect(&format!("{} fleet", target_database::APPLICATION))
        .ok()?;
    let history = history::read(&mut client).ok()?;
    let version = history.newest_applied()?;
    let done = statuses(set, &history)
        .iter()
        .all(|status| status.state == State::Applied);
    (done && Some(version) == set.head()).then_some(version)
}

/// Asks on the terminal before changing the fleet's databases when `--yes` was not given.
fn confirm(fleet: &Fleet) -> Result<()> {
    let answer = terminal::ask(&format!(
        "deploy the {} databases of {}? type yes to go on: ",
        fleet.members.len(),
        fleet.path.display()
    ))?;
    if answer == "yes" {
        Ok(())
    } else {
        Err(Exit::Failure.error("not confirmed; nothing was changed"))
    }
}

/// The summary as a table, one line per database.
fn table(summary: &Summary<'_>, width: usize) -> String {
    let width = width.max("DATABASE".len());
    let mut out = format!(
        "fleet {}: {} databases, head version {}, --parallel {}, {}\n",
        summary.fleet,
        summary.databases.len(),
        summary.head,
        summary.parallel,
        summary.outcome.as_str()
    );
    out.push_str(&format!(
        "{:<width$}  {:<6}  {:<5}  {:<15}  {:<9}  {:>9}  BACKUP\n",
        "DATABASE", "CANARY", "ORDER", "OUTCOME", "VERSION", "DURATION"
    ));
    let dash = || "-".to_owned();
    for row in summary.databases {
        let versions = match (row.version_before, row.version_after) {
            (Some(before), Some(after)) if before == after => before.to_string(),
            (Some(before), Some(after)) => format!("{before} -> {after}"),
            _ => dash(),
        };
        let line = format!(
            "{:<width$}  {:<6}  {:<5}  {:<15}  {:<9}  {:>9}  {}",
            row.name,
            if row.canary { "yes" } else { "" },
            row.order.map_or_else(dash, |order| order.to_string()),
            row.outcome.as_str(),
            versions,
            row.duration_ms.map_or_else(dash, |ms| {
                pg_tools::seconds(std::time::Duration::from_millis(
                    u64::try_from(ms).unwrap_or(u64::MAX),
                ))
            }),
            row.backup.clone().unwrap_or_else(dash)
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(error) = &row.error {
            out.push_str(&format!("{:<width$}  {error}\n", ""));
        }
    }
    out
}

/// RFC 3339 in UTC with a fixed six-digit fraction, so the times of the rows sort as text.
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_outcomes_are_written_as_printed() {
        for outcome in [
            SummaryOutcome::Deployed,
            SummaryOutcome::Failed,
            SummaryOutcome::DryRun,
        ] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }
}
