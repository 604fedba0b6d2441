//! `cargo xtask bench migrate`: N generated migrations applied by `cargo xtask migrate` (the real
//! command, as a process) and by one `psql` process running each file in its own transaction,
//! each on a fresh scratch database of the same server. Target: ours within 1.3x of psql.
//!
//! With `--tls`, the baseline is our own engine without TLS on the same server instead: TLS
//! should cost the handshake of the one connection the engine holds (target: within 1.1x).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::tls::SslMode;
use migrations::{DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use crate::plumbing::{pg_tools, target_database};

const TARGET_RATIO: f64 = 1.3;
const TLS_TARGET_RATIO: f64 = 1.1;

pub fn run(count: usize, rounds: usize, database_url: Option<&str>, tls: bool) -> Result<()> {
    let server = target_database::server(database_url)?;
    let mode = server.tls().mode();
    if tls && mode < SslMode::Require {
        anyhow::bail!(
            "bench migrate --tls needs a database URL with sslmode=require, verify-ca or verify-full \
             (this one has sslmode={mode}), so that the measured connections surely use TLS"
        );
    }
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let dir = work.path().join("sql");
    generate_migrations(&dir, count)?;
    let psql_script = work.path().join("all.sql");
    write_psql_script(&dir, count, &psql_script)?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    println!("{count} generated migrations, {rounds} rounds, server {server}");
    let (name, baseline, target) = if tls {
        ("migrate over TLS", "migrate without TLS", TLS_TARGET_RATIO)
    } else {
        ("cargo xtask migrate", "psql", TARGET_RATIO)
    };

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first, so a warming cache favours neither.
        let order = if round % 2 == 1 {
            [true, false]
        } else {
            [false, true]
        };
        for ours_first in order {
            let scratch = ScratchDatabase::create(&server, "bomizzel_bench")?;
            let elapsed = match (ours_first, tls) {
                (true, _) => time_engine(&sh, &xtask, scratch.url(), &dir, work.path())?,
                (false, true) => {
                    time_engine(&sh, &xtask, &without_tls(scratch.url())?, &dir, work.path())?
                }
                (false, false) => time_psql(&sh, scratch.url(), &psql_script)?,
            };
            let shown = if ours_first { name } else { baseline };
            println!(
                "round {round}: {shown:<20} {:>8.1} ms",
                elapsed.as_secs_f64() * 1e3
            );
            if ours_first {
                ours.push(elapsed.as_secs_f64())
            } else {
                theirs.push(elapsed.as_secs_f64())
            }
        }
    }
    let (ours, theirs) = (super::measure::median(ours), super::measure::median(theirs));
    let ratio = ours / theirs;
    println!(
        "median: {name} {:.1} ms, {baseline} {:.1} ms, ratio {ratio:.2}x (target <= {target}x): {}",
        ours * 1e3,
        theirs * 1e3,
        if ratio <= target { "met" } else { "NOT MET" }
    );
    Ok(())
}

/// The same database without TLS: in a conninfo string the last `sslmode` wins, as in libpq.
fn without_tls(url: &DatabaseUrl) -> Result<DatabaseUrl> {
    format!("{} sslmode=disable", url.secret_conninfo())
        .parse()
        .context("building the URL without TLS")
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
    let started = Instant::now();
    pg_tools::connect_env(cmd!(sh, "psql -X -q -v ON_ERROR_STOP=1 -f {script}"), url)
        .quiet()
        .ignore_stdout()
        .run()
        .context("psql failed during the benchmark (is psql installed?)")?;
    Ok(started.elapsed())
}

/// Migrations shaped like real ones: a table, rows, an index, a new column.
pub(super) fn generate_migrations(dir: &Path, count: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for index in 1..=count {
        let up = format!(
            "-- Purpose: benchmark step {index}\n-- Risk: none\n-- Rollback: drop the table\n-- Performance: tiny\n\
             CREATE TABLE bench_{index} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);\n\
             INSERT INTO bench_{index} (name) SELECT 'row ' || g FROM generate_series(1, 20) AS g;\n\
             CREATE INDEX bench_{index}_name_idx ON bench_{index} (name);\n\
             ALTER TABLE bench_{index} ADD COLUMN note text;\n"
        );
        std::fs::write(dir.join(format!("V{index:04}__bench_step_{index}.sql")), up)?;
        std::fs::write(
            dir.join(format!("V{index:04}__bench_step_{index}.down.sql")),
            format!("DROP TABLE bench_{index};\n"),
        )?;
    }
    Ok(())
}
