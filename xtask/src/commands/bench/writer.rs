//! `cargo xtask bench writer` (hidden): the concurrent application of `bench backfill`, run as a
//! second process. It reads and updates random rows of `items` on `DATABASE_URL`, one statement
//! at a time, until its standard input closes (the parent's signal that the measured method is
//! done), `--seconds` pass or `--max-operations` are done, then prints one JSON line:
//! `{"operations", "errors", "p99_ms", "max_ms"}`. The longest stall is `max_ms`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::DatabaseUrl;
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

/// What the writer prints, and the parent reads back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub operations: usize,
    pub errors: usize,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A writer process running beside a measured method; `finish` stops it and reads its report.
pub struct Writer {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

/// The writer's upper bounds: it stops by itself after this long or this many statements.
const LONGEST_RUN_SECONDS: u64 = 3600;
const MOST_OPERATIONS: usize = 50_000_000;

impl Writer {
    /// Starts `xtask bench writer` on the database (given in its environment, never argv) and
    /// waits until it is connected and about to write.
    pub fn start(sh: &Shell, xtask: &Path, conninfo: &str) -> Result<Writer> {
        let (seconds, operations) = (LONGEST_RUN_SECONDS.to_string(), MOST_OPERATIONS.to_string());
        // xshell runs commands to completion; this one runs beside the method, so it is spawned.
        let mut command: Command = cmd!(
            sh,
            "{xtask} bench writer --seconds {seconds} --max-operations {operations}"
        )
        .env("DATABASE_URL", conninfo)
        .into();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the writer process")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no writer stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the writer process did not start: {}", line.trim());
        }
        Ok(Writer { child, stdout })
    }

    /// Closes the writer's input (its signal to stop) and reads its report.
    pub fn finish(mut self) -> Result<Report> {
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let status = self.child.wait()?;
        if !status.success() {
            anyhow::bail!("the writer process failed ({status})");
        }
        serde_json::from_str(line.trim()).context("reading the writer's report")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Only when `finish` was not reached (an error): never leave the process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn run(seconds: u64, max_operations: usize) -> Result<()> {
    let url: DatabaseUrl = std::env::var("DATABASE_URL")
        .context("the writer reads its database from DATABASE_URL")?
        .parse()
        .context("invalid DATABASE_URL")?;
    let mut client = url.connect("bomizzel-bench-writer")?;
    let largest: i64 = client
        .query_one("SELECT coalesce(max(id), 1) FROM items", &[])?
        .get(0);
    let update = client.prepare("UPDATE items SET old_value = old_value WHERE id = $1")?;
    let read = client.prepare("SELECT old_value, new_value FROM items WHERE id = $1")?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Whatever arrives, EOF or an error means the parent wants the report.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::Relaxed);
        });
    }
    println!("ready");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut state = u64::from(std::process::id()) | 1;
    let mut latencies = Vec::new();
    let mut errors = 0;
    while !stop.load(Ordering::Relaxed)
        && Instant::now() < deadline
        && latencies.len() < max_operations
    {
        // xorshift64: uniform enough to spread the writes over the table.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = (state % largest as u64) as i64 + 1;
        for statement in [&update, &read] {
            let started = Instant::now();
            match client.execute(statement, &[&id]) {
                Ok(_) => latencies.push(started.elapsed()),
                Err(_) => errors += 1,
            }
        }
    }
    latencies.sort();
    let report = Report {
        operations: latencies.len(),
        errors,
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The latency at `fraction` (0.99: p99, 1.0: the longest) of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}
