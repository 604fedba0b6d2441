//! `cargo xtask bench lint --trace`: `cargo xtask lint --trace` over N generated migrations
//! against `test-rollback-roundtrip` over the same folder, both as processes on the same server in
//! the same run, each making and dropping its own scratch database. Target: within 1.5x of the
//! round-trip, so tracing every migration in `check-migrations` costs about what the round-trip
//! already does.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::plumbing::target_database;

const TARGET_RATIO: f64 = 1.5;

pub fn run(count: usize, rounds: usize, database_url: Option<&str>) -> Result<()> {
    let server = target_database::server(database_url)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let dir = work.path().join("sql");
    super::migrate::generate_migrations(&dir, count)?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    println!("{count} generated migrations, {rounds} rounds, server {server}");
    let url = server.secret_conninfo();
    let time = |args: &[&str]| -> Result<Duration> {
        let started = Instant::now();
        cmd!(sh, "{xtask} {args...} --dir {dir}")
            .env("DATABASE_URL", &url)
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("`{}` failed during the benchmark", args.join(" ")))?;
        Ok(started.elapsed())
    };
    let (mut traced, mut roundtrip) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first, so neither always meets the other's leftovers.
        let mut pair = [None, None];
        for which in if round % 2 == 1 { [0, 1] } else { [1, 0] } {
            super::measure::settle(&server);
            pair[which] = Some(if which == 0 {
                time(&["lint", "--trace", "--format", "json"])?
            } else {
                time(&["test-rollback-roundtrip"])?
            });
        }
        let [Some(lint), Some(checked)] = pair else {
            unreachable!("both were timed")
        };
        println!(
            "round {round}: lint --trace {:>8.1} ms   round-trip {:>8.1} ms",
            millis(lint),
            millis(checked)
        );
        traced.push(lint.as_secs_f64());
        roundtrip.push(checked.as_secs_f64());
    }
    let (traced, roundtrip) = (
        super::measure::median(traced),
        super::measure::median(roundtrip),
    );
    let ratio = traced / roundtrip;
    println!(
        "median: lint --trace {:.1} ms, round-trip {:.1} ms, ratio {ratio:.2}x (target <= {TARGET_RATIO}x): {}",
        traced * 1e3,
        roundtrip * 1e3,
        if ratio <= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    Ok(())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
