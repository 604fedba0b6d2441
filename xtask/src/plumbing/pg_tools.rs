//! What `backup`, `restore` and `deploy-db` share: finding PostgreSQL's own client programs,
//! handing them a connection through their environment (never their argv), and fingerprinting
//! table contents to prove two databases hold the same data (`pg_tools/fingerprint.rs`).

mod fingerprint;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use migrations::DatabaseUrl;
use postgres::GenericClient;
use xshell::{Cmd, Shell};

use crate::plumbing::target_database;

pub use fingerprint::{
    compare_fingerprints, describe_differences, fingerprints, DifferenceKind, Fingerprint,
    TableDifference,
};

/// Overrides the PostgreSQL bin folders searched after `PATH` (`:`-separated; empty: none).
pub const BIN_DIRS_VAR: &str = "BOMIZZEL_PG_BIN_DIRS";

/// The server's version, from `server_version_num` and `server_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    pub num: u32,
    /// `15.20`
    pub text: String,
}

impl ServerVersion {
    pub fn query(client: &mut impl GenericClient) -> Result<ServerVersion> {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int4, current_setting('server_version')",
                &[],
            )
            .context("reading the server version")?;
        let num: i32 = row.get(0);
        let text: String = row.get(1);
        Ok(ServerVersion {
            num: u32::try_from(num).unwrap_or_default(),
            text: text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Major releases compare by this key: 15.x gives 1500, 9.6.x gives 906.
    fn major_key(&self) -> u32 {
        major_key(self.num)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgreSQL {}", self.text)
    }
}

fn major_key(num: u32) -> u32 {
    if num >= 100_000 {
        num / 10_000 * 100
    } else {
        num / 100
    }
}

/// `15.20` as `150020`, `9.6.24` as `90624`, like `server_version_num`.
fn version_num(text: &str) -> Option<u32> {
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    if major >= 10 {
        Some(major * 10_000 + minor)
    } else {
        let patch = parts.next().flatten().unwrap_or(0);
        Some(major * 10_000 + minor * 100 + patch)
    }
}

/// A PostgreSQL client program that can talk to the server at hand.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    /// `15.20`
    pub version: String,
}

/// Finds `name` (`pg_dump`, `pg_restore`) no older than the server: on `PATH` first, then in the
/// PostgreSQL bin folders, newest first. pg_dump refuses a newer server's database, so an older
/// one is refused here, naming both versions, before anything runs.
pub fn find(sh: &Shell, name: &'static str, server: &ServerVersion) -> Result<Tool> {
    // Asking each candidate its version starts a process (through Debian's Perl wrapper): once
    // per program and server release is enough, even for a fleet of databases.
    static FOUND: Mutex<BTreeMap<(&str, u32), Tool>> = Mutex::new(BTreeMap::new());
    let key = (name, server.major_key());
    let cached = FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
        .cloned();
    if let Some(tool) = cached {
        return Ok(tool);
    }
    let tool = search(sh, name, server)?;
    FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, tool.clone());
    Ok(tool)
}

fn search(sh: &Shell, name: &'static str, server: &ServerVersion) -> Result<Tool> {
    let (candidates, searched) = candidates(name);
    let mut too_old: Option<Tool> = None;
    for path in candidates {
        let Some(version) = tool_version(sh, &path) else {
            continue;
        };
        let tool = Tool {
            path,
            version: version.clone(),
        };
        match version_num(&version) {
            Some(num) if major_key(num) >= server.major_key() => return Ok(tool),
            _ => {
                if too_old.is_none() {
                    too_old = Some(tool);
                }
            }
        }
    }
    match too_old {
        Some(tool) => {
            let major = server.text.split('.').next().unwrap_or(&server.text);
            anyhow::bail!(
                "{name} {} ({}) is older than the server ({server}) and cannot handle its databases; \
                 install the client of version {major} or newer (apt-get install postgresql-client-{major}) \
                 or put a newer {name} first on PATH",
                tool.version,
                tool.path.display()
            )
        }
        None => anyhow::bail!(
            "{name} not found: searched PATH and {searched}; install the PostgreSQL client programs \
             (apt-get install postgresql-client) or put {name} on PATH"
        ),
    }
}

/// Every executable `name` on `PATH`, then in the bin folders; and how to say where we looked.
fn candidates(name: &str) -> (Vec<PathBuf>, String) {
    let mut found = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        found.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    let (dirs, searched) = bin_dirs();
    found.extend(dirs.iter().map(|dir| dir.join(name)));
    found.retain(|path| is_executable(path));
    found.dedup();
    (found, searched)
}

/// `$BOMIZZEL_PG_BIN_DIRS` when set, else `/usr/lib/postgresql/*/bin` (Debian) and
/// `/usr/pgsql-*/bin` (RHEL), newest version first.
fn bin_dirs() -> (Vec<PathBuf>, String) {
    if let Some(value) = std::env::var_os(BIN_DIRS_VAR) {
        let dirs: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|dir| !dir.as_os_str().is_empty())
            .collect();
        let shown = if dirs.is_empty() {
            format!("no PostgreSQL bin folder ({BIN_DIRS_VAR} is empty)")
        } else {
            format!(
                "{} (from {BIN_DIRS_VAR})",
                dirs.iter()
                    .map(|dir| dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return (dirs, shown);
    }
    let mut versioned: Vec<(u32, PathBuf)> = Vec::new();
    for (parent, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = file_name.strip_prefix(prefix) else {
                continue;
            };
            if let Some(num) = version_num(version).filter(|_| !version.is_empty()) {
                versioned.push((num, entry.path().join("bin")));
            }
        }
    }
    versioned.sort_by_key(|(num, _)| std::cmp::Reverse(*num));
    let dirs = versioned.into_iter().map(|(_, dir)| dir).collect();
    (
        dirs,
        "/usr/lib/postgresql/*/bin and /usr/pgsql-*/bin".to_owned(),
    )
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// `15.20` out of `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`.
fn tool_version(sh: &Shell, path: &Path) -> Option<String> {
    let output = xshell::cmd!(sh, "{path} --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    parse_tool_version(&output)
}

fn parse_tool_version(output: &str) -> Option<String> {
    let rest = output.split("(PostgreSQL)").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// The connection for a child program, entirely in its environment: libpq reads `PGPASSWORD`
/// from there, and `/proc/PID/cmdline` (readable by every user) never sees it. The TLS settings
/// go the same way, so the child is as strict as our own connection.
pub fn connect_env<'a>(command: Cmd<'a>, url: &DatabaseUrl) -> Cmd<'a> {
    let command = url
        .tls()
        .environment()
        .into_iter()
        .fold(command, |command, (name, value)| match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        });
    let (hosts, ports) = url.host_and_port_lists();
    let command = command
        .env("PGHOST", hosts)
        .env("PGPORT", ports)
        .env("PGUSER", url.user())
        .env("PGDATABASE", url.database())
        .env(
            "PGAPPNAME",
            url.application_name(target_database::APPLICATION),
        )
        .env(
            "PGCONNECT_TIMEOUT",
            url.connect_timeout().as_secs().max(1).to_string(),
        )
        .env_remove("PGSERVICE")
        .env_remove("PGHOSTADDR");
    let command = match url.target_session_attrs() {
        Some(attrs) => command.env("PGTARGETSESSIONATTRS", attrs),
        None => command.env_remove("PGTARGETSESSIONATTRS"),
    };
    match url.password() {
        Some(password) => command.env("PGPASSWORD", password),
        // Authenticate as our own connection did, not with a password left in the environment.
        None => command.env_remove("PGPASSWORD"),
    }
}

/// Runs a PostgreSQL program to the end; its failure becomes one error with what it said.
pub fn run_tool(command: Cmd<'_>, what: &str) -> Result<String> {
    let output = command
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot start {what}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let status = output
        .status
        .code()
        .map_or_else(|| "killed".to_owned(), |code| format!("exit {code}"));
    // The first lines name the cause; pg_restore then repeats a summary.
    let said = said.iter().take(6).copied().collect::<Vec<_>>().join("; ");
    anyhow::bail!("{what} failed ({status}): {said}")
}

/// Jobs for a parallel dump or restore: the CPUs, at most 4 (more mostly adds server load).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// User tables in the database (`schema.table`), for refusing to overwrite one that holds data.
pub fn user_tables(client: &mut impl GenericClient) -> Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
             ORDER BY 1",
            &[],
        )
        .context("listing tables")?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// `12.3 MB`
pub fn human_size(bytes: u64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `1.23 s`
pub fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// The size of a file, or of every file in a folder (a directory-format archive).
pub fn size_on_disk(path: &Path) -> Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if entry.file_type().is_file() {
            total += entry.metadata().map_or(0, |meta| meta.len());
        }
    }
    Ok(total)
}

/// A path quoted for a POSIX shell when it needs it, for commands printed for people to paste.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_release() {
        assert_eq!(version_num("15.20"), Some(150_020));
        assert_eq!(version_num("9.6.24"), Some(90_624));
        assert_eq!(version_num("16beta1").map(major_key), Some(1600));
        assert!(major_key(150_020) > major_key(90_624));
        assert_eq!(major_key(150_002), major_key(150_020));
        assert!(major_key(160_000) > major_key(150_020));
        assert_eq!(
            parse_tool_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n").as_deref(),
            Some("15.20")
        );
    }

    #[test]
    fn printed_commands_quote_what_a_shell_would_split() {
        assert_eq!(shell_quote("target/a-b.dump"), "target/a-b.dump");
        assert_eq!(shell_quote("my file's.dump"), "'my file'\\''s.dump'");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1536), "1.5 kB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MB");
    }
}
