//! `cargo xtask bench fleet`: `deploy-db --fleet` (the real command, as a process) of the
//! project's migrations over N fresh scratch databases with `--parallel P`, against the same over
//! N others one after another (`--parallel 1`), in the same run; then every database's end state
//! (history and schema) compared. Target: parallel at least 2x faster.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::schema::{Scope, Snapshot};
use migrations::{history, DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use crate::plumbing::{project, target_database};

const TARGET_RATIO: f64 = 2.0;

pub fn run(databases: usize, parallel: usize, database_url: Option<&str>) -> Result<()> {
    let server = target_database::server(database_url)?;
    let set = target_database::load(None)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    println!(
        "{databases} databases x {} migrations of the project, server {server}",
        set.migrations.len()
    );
    let mut times = Vec::new();
    let mut fleets = Vec::new();
    // The parallel run goes first: whatever the first run warms up helps the baseline.
    for (label, jobs) in [("parallel", parallel), ("serial", 1)] {
        let scratch = (0..databases)
            .map(|_| ScratchDatabase::create(&server, "bomizzel_bench_fleet"))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("creating scratch databases on {}", server.server()))?;
        super::measure::settle(&server);
        let folder = work.path().join(label);
        let elapsed = deploy(&sh, &xtask, &scratch, jobs, &folder)?;
        let (deploying, backing_up) = time_spent(&folder)?;
        println!(
            "--parallel {jobs}: {:>7.1} s ({:.2} s per database); of the databases' own deploy time, backups took {:.0}%",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / databases as f64,
            100.0 * backing_up / deploying.max(f64::MIN_POSITIVE)
        );
        times.push(elapsed);
        fleets.push(scratch);
    }
    let ratio = times[1].as_secs_f64() / times[0].as_secs_f64();
    println!(
        "ratio: one after another / --parallel {parallel} = {ratio:.2}x (target >= {TARGET_RATIO}x): {}",
        if ratio >= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    let all: Vec<&ScratchDatabase> = fleets.iter().flatten().collect();
    let (head, differing) = compare_end_states(&all)?;
    if !differing.is_empty() {
        anyhow::bail!(
            "the end states differ: {} of {} databases differ from the first ({})",
            differing.len(),
            all.len(),
            differing.join("; ")
        );
    }
    println!(
        "end states equal: all {} databases at version {head}, same history and schema",
        all.len()
    );
    Ok(())
}

/// One `deploy-db --fleet` over `databases`, each URL in its own variable of the child.
fn deploy(
    sh: &Shell,
    xtask: &Path,
    databases: &[ScratchDatabase],
    jobs: usize,
    work: &Path,
) -> Result<Duration> {
    std::fs::create_dir_all(work).context("creating the run's folder")?;
    let mut fleet = String::new();
    for index in 0..databases.len() {
        fleet.push_str(&format!(
            "[[database]]\nname = \"db{index:03}\"\nurl_env = \"BENCH_FLEET_{index:03}\"\n{}\n",
            if index == 0 { "canary = true\n" } else { "" }
        ));
    }
    let file = work.join("fleet.toml");
    std::fs::write(&file, fleet).context("writing the fleet file")?;
    let dir = project::migrations_dir(None);
    let (log, backups, reports) = (
        work.join("migrations.log"),
        work.join("backups"),
        work.join("reports"),
    );
    let jobs = jobs.to_string();
    let mut command = cmd!(
        sh,
        "{xtask} deploy-db --fleet {file} --parallel {jobs} --yes --dir {dir} --log {log} --backup-dir {backups} --report {reports}"
    )
    .quiet()
    .ignore_stdout();
    for (index, database) in databases.iter().enumerate() {
        command = command.env(
            format!("BENCH_FLEET_{index:03}"),
            database.url().secret_conninfo(),
        );
    }
    let started = Instant::now();
    command
        .run()
        .context("deploy-db --fleet failed during the benchmark")?;
    Ok(started.elapsed())
}

/// From a run's fleet summary and migration log: the seconds the databases spent deploying,
/// summed, and the part of them spent taking backups (pg_dump and reading the archive back).
fn time_spent(folder: &Path) -> Result<(f64, f64)> {
    let reports = folder.join("reports");
    let summary = std::fs::read_dir(&reports)
        .with_context(|| format!("cannot read {}", reports.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("fleet-"))
                && path.extension().is_some_and(|ext| ext == "json")
        })
        .context("the fleet summary is missing")?;
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&summary)
            .with_context(|| format!("cannot read {}", summary.display()))?,
    )?;
    let seconds =
        |value: &serde_json::Value| value["duration_ms"].as_f64().unwrap_or_default() / 1e3;
    let deploying = summary["databases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(seconds)
        .sum();
    let log = folder.join("migrations.log");
    let backing_up = std::fs::read_to_string(&log)
        .with_context(|| format!("cannot read {}", log.display()))?
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["outcome"] == "backed_up")
        .map(|line| seconds(&line))
        .sum();
    Ok((deploying, backing_up))
}

/// Every database's history and schema against the first's: the head version, and the
/// databases that differ (with the first difference).
fn compare_end_states(databases: &[&ScratchDatabase]) -> Result<(i32, Vec<String>)> {
    let read = |url: &DatabaseUrl| -> Result<(Vec<i32>, Snapshot)> {
        let mut client = url.connect("bomizzel-bench")?;
        let history = history::read(&mut client).context("reading the history")?;
        let snapshot = Snapshot::read(&mut client, Scope::All).context("reading the schema")?;
        Ok((history.applied.keys().copied().collect(), snapshot))
    };
    let (first_history, first_schema) = read(databases[0].url())?;
    let mut differing = Vec::new();
    for database in &databases[1..] {
        let (history, schema) = read(database.url())?;
        if history != first_history {
            differing.push(format!("{}: history {history:?}", database.name()));
        } else if let Some(difference) = first_schema.diff(&schema).first() {
            differing.push(format!("{}: {difference}", database.name()));
        }
    }
    Ok((first_history.last().copied().unwrap_or(0), differing))
}
