//! `cargo xtask bench roundtrip`: `test-rollback-roundtrip` over N generated migrations against
//! applying them once with `cargo xtask migrate`, both as processes on the same server, in the
//! same run, each from no database to its database dropped again. Target: within 3x. A second
//! size (N/2) shows the growth: about 2x for O(N).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use crate::plumbing::target_database;

const TARGET_RATIO: f64 = 3.0;

pub fn run(count: usize, rounds: usize, database_url: Option<&str>) -> Result<()> {
    let server = target_database::server(database_url)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let full = work.path().join("full");
    let half = work.path().join("half");
    super::migrate::generate_migrations(&full, count)?;
    super::migrate::generate_migrations(&half, count / 2)?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    println!("{count} generated migrations, {rounds} rounds, server {server}");

    let (mut migrate, mut roundtrip, mut roundtrip_half) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        super::measure::settle(&server);
        let applied = time_migrate(&sh, &xtask, &server, &full, work.path())?;
        super::measure::settle(&server);
        let checked = time_roundtrip(&sh, &xtask, &server, &full)?;
        super::measure::settle(&server);
        let checked_half = time_roundtrip(&sh, &xtask, &server, &half)?;
        println!(
            "round {round}: migrate {:>8.1} ms   round-trip {:>8.1} ms   round-trip of {} {:>8.1} ms",
            millis(applied),
            millis(checked),
            count / 2,
            millis(checked_half)
        );
        migrate.push(applied.as_secs_f64());
        roundtrip.push(checked.as_secs_f64());
        roundtrip_half.push(checked_half.as_secs_f64());
    }
    let (migrate, roundtrip, roundtrip_half) = (
        super::measure::median(migrate),
        super::measure::median(roundtrip),
        super::measure::median(roundtrip_half),
    );
    let ratio = roundtrip / migrate;
    println!(
        "median: migrate {:.1} ms, round-trip {:.1} ms, ratio {ratio:.2}x (target <= {TARGET_RATIO}x): {}",
        migrate * 1e3,
        roundtrip * 1e3,
        if ratio <= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    println!(
        "growth: round-trip of {count} / round-trip of {} = {:.2} (2.0 is linear, 4.0 quadratic)",
        count / 2,
        roundtrip / roundtrip_half
    );
    Ok(())
}

/// Like the round-trip, which makes its scratch database and drops it, the baseline's time
/// includes creating and dropping its database.
fn time_migrate(
    sh: &Shell,
    xtask: &Path,
    server: &DatabaseUrl,
    dir: &Path,
    work: &Path,
) -> Result<Duration> {
    let started = Instant::now();
    let scratch = ScratchDatabase::create(server, "bomizzel_bench")?;
    super::migrate::time_engine(sh, xtask, scratch.url(), dir, work)?;
    drop(scratch);
    Ok(started.elapsed())
}

fn time_roundtrip(sh: &Shell, xtask: &Path, server: &DatabaseUrl, dir: &Path) -> Result<Duration> {
    let started = Instant::now();
    cmd!(sh, "{xtask} test-rollback-roundtrip --dir {dir}")
        .env("DATABASE_URL", server.secret_conninfo())
        .quiet()
        .ignore_stdout()
        .run()
        .context("test-rollback-roundtrip failed during the benchmark")?;
    Ok(started.elapsed())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
