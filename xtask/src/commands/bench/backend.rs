//! The release backend as benchmarks run it: built once, an admin created, served on a free
//! loopback port, stopped when the handle goes away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use migrations::DatabaseUrl;
use xshell::{cmd, Shell};

use crate::plumbing::{project, readiness_probe};

/// A backend process, ended (however the benchmark ends) when this is dropped.
pub struct Backend {
    process: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Backend {
    /// CPU time the backend process has used so far (user and system), from `/proc`; `None`
    /// where there is no `/proc`. Throughput on a busy machine depends on what else runs; the CPU
    /// a request costs much less.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.id())).ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // Linux reports in USER_HZ, 100 per second on every architecture it runs on.
        Some(Duration::from_millis(ticks * 10))
    }
}

/// Builds the release backend and returns its binary: this workspace's, or, given another
/// checkout (an earlier release to compare against), that one's, in a target folder of its own
/// kept between runs so only the first comparison pays for a cold build.
pub fn build(sh: &Shell, checkout: Option<&Path>) -> Result<PathBuf> {
    let workspace_target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || project::root().join("target"),
            |dir| project::root().join(dir),
        );
    let (source, target) = match checkout {
        None => (project::root(), workspace_target),
        Some(dir) => (dir.to_path_buf(), workspace_target.join("xtask/baseline")),
    };
    println!("building the backend (release) in {}", source.display());
    let _source = sh.push_dir(&source);
    cmd!(sh, "cargo build --release --quiet --package backend")
        .env("CARGO_TARGET_DIR", &target)
        .run()?;
    Ok(target.join("release/backend"))
}

/// An admin on `database`, through the backend's own `create-admin`: its token.
pub fn create_admin(sh: &Shell, binary: &Path, database: &DatabaseUrl) -> Result<String> {
    Ok(cmd!(sh, "{binary} create-admin admin@bench.example")
        .env("DATABASE_URL", database.secret_conninfo())
        .read()
        .context("creating the benchmark's admin")?
        .trim()
        .to_owned())
}

/// Serves `database` on a free loopback port and waits until `probe` (`/health/ready`, or
/// `/health` for a schema still behind the build) answers 2xx.
pub fn start(sh: &Shell, binary: &Path, database: &DatabaseUrl, probe: &str) -> Result<Backend> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // xshell runs commands to completion; a server must outlive this call, so it is spawned.
    let mut command: Command = cmd!(sh, "{binary}")
        .env("DATABASE_URL", database.secret_conninfo())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .into();
    let backend = Backend {
        process: command
            .stdout(Stdio::null())
            .spawn()
            .context("starting the backend")?,
        base: format!("http://127.0.0.1:{port}"),
    };
    readiness_probe::wait_ready(&format!("{}{probe}", backend.base), Duration::from_secs(30))
        .map_err(|error| anyhow::anyhow!("the backend did not become ready: {error}"))?;
    Ok(backend)
}
