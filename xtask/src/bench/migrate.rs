//! `cargo xtask bench migrate`: N generated migrations applied by `cargo xtask migrate` (the real
//! command, as a process) and by one `psql` process running each file in its own transaction,
//! each on a fresh scratch database of the same server. Target: ours within 1.3x of psql.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use crate::database;

const TARGET_RATIO: f64 = 1.3;

pub fn run(count: usize, rounds: usize, database_url: Option<&str>) -> Result<()> {
    let server = database::server(database_url)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let dir = work.path().join("sql");
    super::generate_migrations(&dir, count)?;
    let psql_script = work.path().join("all.sql");
    write_psql_script(&dir, count, &psql_script)?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    println!("{count} generated migrations, {rounds} rounds, server {server}");

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first, so a warming cache favours neither.
        let order = if round % 2 == 1 {
            [true, false]
        } else {
            [false, true]
        };
        for engine_first in order {
            let scratch = ScratchDatabase::create(&server, "bomizzel_bench")?;
            let elapsed = if engine_first {
                time_engine(&sh, &xtask, scratch.url(), &dir, work.path())?
            } else {
                time_psql(&sh, scratch.url(), &psql_script)?
            };
            let name = if engine_first {
                "cargo xtask migrate"
            } else {
                "psql"
            };
            println!(
                "round {round}: {name:<20} {:>8.1} ms",
                elapsed.as_secs_f64() * 1e3
            );
            if engine_first {
                ours.push(elapsed.as_secs_f64())
            } else {
                theirs.push(elapsed.as_secs_f64())
            }
        }
    }
    let (ours, theirs) = (super::median(ours), super::median(theirs));
    let ratio = ours / theirs;
    println!(
        "median: cargo xtask migrate {:.1} ms, psql {:.1} ms, ratio {ratio:.2}x (target <= {TARGET_RATIO}x): {}",
        ours * 1e3,
        theirs * 1e3,
        if ratio <= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    Ok(())
}

fn write_psql_script(dir: &Path, count: usize, path: &Path) -> Result<()> {
    let mut script = String::new();
    for index in 1..=count {
        let file = dir.join(format!("V{index:04}__bench_step_{index}.sql"));
        writeln!(script, "BEGIN;\n\\i '{}'\nCOMMIT;", file.display())?;
    }
    std::fs::write(path, script).context("writing the psql script")
}

pub fn time_engine(
    sh: &Shell,
    xtask: &Path,
    url: &DatabaseUrl,
    dir: &Path,
    work: &Path,
) -> Result<Duration> {
    let log = work.join("bench.log");
    let started = Instant::now();
    cmd!(sh, "{xtask} migrate --dir {dir} --log {log}")
        .env("DATABASE_URL", url.secret_conninfo())
        .quiet()
        .ignore_stdout()
        .run()
        .context("cargo xtask migrate failed during the benchmark")?;
    Ok(started.elapsed())
}

fn time_psql(sh: &Shell, url: &DatabaseUrl, script: &Path) -> Result<Duration> {
    let (host, port) = (url.host(), url.port().to_string());
    let (user, database) = (url.user(), url.database());
    let password = url.password().unwrap_or_default();
    let started = Instant::now();
    cmd!(
        sh,
        "psql -X -q -v ON_ERROR_STOP=1 -h {host} -p {port} -U {user} -d {database} -f {script}"
    )
    .env("PGPASSWORD", password)
    .quiet()
    .ignore_stdout()
    .run()
    .context("psql failed during the benchmark (is psql installed?)")?;
    Ok(started.elapsed())
}
