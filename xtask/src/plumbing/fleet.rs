//! Fleets: many databases (one per tenant or shard) that one release migrates together. The fleet
//! file lists them by name with the environment variable holding each URL, never the URL itself:
//!
//! ```toml
//! [[database]]
//! name = "tenant_a"
//! url_env = "TENANT_A_DATABASE_URL"
//! canary = true
//! ```
//!
//! `deploy-db --fleet` lives in `commands/deploy_db/fleet.rs`; `status --fleet` and `verify --fleet` here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use migrations::{history, statuses, DatabaseUrl, MigrationSet, State, Version};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::flags::Format;
use crate::plumbing::verification::{self, Expectations};
use crate::plumbing::{check, target_database};

/// The file name looked for beside the migrations folder when `--fleet` names none.
pub const DEFAULT_FILE: &str = "fleet.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    database: Vec<EntryText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryText {
    name: String,
    url_env: String,
    #[serde(default)]
    canary: bool,
    /// Accepted by the parser only to refuse it with the reason (a URL holds the password).
    url: Option<IgnoredAny>,
}

/// A fleet file read and every URL resolved from the environment.
#[derive(Debug)]
pub struct Fleet {
    pub path: PathBuf,
    pub members: Vec<Member>,
}

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub url: DatabaseUrl,
    pub canary: bool,
}

impl Fleet {
    /// The fleet file `given` (else `fleet.toml` beside the migrations folder), with every
    /// database's URL read from its variable. Any problem refuses the whole fleet, before any
    /// database is touched, naming the file, the database and the variable.
    pub fn load(given: Option<&Path>, set: &MigrationSet) -> Result<Fleet> {
        let path = given.map_or_else(
            || {
                set.dir
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(DEFAULT_FILE)
            },
            Path::to_path_buf,
        );
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "fleet file {shown} does not exist; write it (see README, \"Fleets\") or name one with --fleet FILE"
            ),
            Err(error) => return Err(error).with_context(|| format!("cannot read {shown}")),
        };
        let parsed: FileText = toml::from_str(&text).map_err(|error| {
            // Only the message and where: toml's own rendering quotes the line, which might be
            // a URL with its password written where it does not belong.
            let place = error.span().map_or_else(String::new, |span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(", line {line}")
            });
            anyhow::anyhow!(
                "fleet file {shown}{place}: {}",
                error.message().trim_end_matches('\n')
            )
        })?;
        if parsed.database.is_empty() {
            anyhow::bail!("fleet file {shown} lists no database: add [[database]] tables with name and url_env");
        }
        let mut members: Vec<Member> = Vec::new();
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for entry in parsed.database {
            let name = entry.name.trim();
            if name.is_empty() {
                problems.push("a database has an empty name".to_owned());
                continue;
            }
            if !seen.insert(name.to_owned()) {
                problems.push(format!("database `{name}` is listed twice"));
                continue;
            }
            if entry.url.is_some() {
                problems.push(format!(
                    "database `{name}` gives `url`: a fleet file names the environment variable that holds the URL (url_env), never the URL itself"
                ));
                continue;
            }
            let variable = entry.url_env.trim();
            match std::env::var(variable) {
                Ok(value) if !value.trim().is_empty() => match value.parse::<DatabaseUrl>() {
                    Ok(url) => members.push(Member {
                        name: name.to_owned(),
                        url,
                        canary: entry.canary,
                    }),
                    Err(error) => problems.push(format!(
                        "database `{name}`: environment variable {variable} does not hold a database URL: it is {error}"
                    )),
                },
                Ok(_) | Err(std::env::VarError::NotPresent) => problems.push(format!(
                    "database `{name}`: environment variable {variable} is not set"
                )),
                Err(std::env::VarError::NotUnicode(_)) => problems.push(format!(
                    "database `{name}`: environment variable {variable} is not valid UTF-8"
                )),
            }
        }
        if !problems.is_empty() {
            anyhow::bail!("fleet file {shown}: {}", problems.join("; "));
        }
        Ok(Fleet { path, members })
    }

    /// The width of the longest name, to align tables and line prefixes.
    pub fn name_width(&self) -> usize {
        self.members
            .iter()
            .map(|member| member.name.len())
            .max()
            .unwrap_or_default()
    }
}

/// One database's state in `status --fleet` and `verify --fleet`.
#[derive(Serialize)]
struct StateRow {
    name: String,
    database: String,
    /// The newest applied version; null when the database could not be read.
    version: Option<Version>,
    pending: Option<usize>,
    state: FleetState,
    /// `verify --fleet` only: the names of the checks that failed (empty: verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_failed: Option<Vec<String>>,
    error: Option<String>,
}

/// A database's migration state in a fleet table, written as text: `clean` (every file applied,
/// or pending), `unreachable`, else what is wrong (`modified 3, failed 4`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum FleetState {
    Clean,
    Unreachable,
    Wrong(Vec<(State, Version)>),
}

impl std::fmt::Display for FleetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetState::Clean => f.write_str("clean"),
            FleetState::Unreachable => f.write_str("unreachable"),
            FleetState::Wrong(wrong) => {
                let parts: Vec<String> = wrong
                    .iter()
                    .map(|(state, version)| format!("{state} {version}"))
                    .collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

impl Serialize for FleetState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl StateRow {
    fn ok(&self) -> bool {
        self.error.is_none()
            && self.state == FleetState::Clean
            && self
                .verify_failed
                .as_ref()
                .is_none_or(|failed| failed.is_empty())
    }
}

#[derive(Serialize)]
struct StateReport<'a> {
    fleet: String,
    head: Version,
    databases: &'a [StateRow],
}

/// `status --fleet`: every database's version, pending count and state in one table; with
/// `check`, an error when one is behind the head or not clean.
pub fn status(dir: Option<&Path>, file: Option<&Path>, format: Format, check: bool) -> Result<()> {
    let set = target_database::load(dir)?;
    let fleet = Fleet::load(file, &set)?;
    let rows: Vec<StateRow> = fleet
        .members
        .iter()
        .map(|member| state_row(member, &set, None))
        .collect();
    print_states(&fleet, &set, &rows, format)?;
    let unreadable: Vec<&str> = rows
        .iter()
        .filter(|row| row.error.is_some())
        .map(|row| row.name.as_str())
        .collect();
    if !unreadable.is_empty() {
        anyhow::bail!(
            "cannot read the migration history of {} of fleet {}",
            unreadable.join(", "),
            fleet.path.display()
        );
    }
    let behind = rows
        .iter()
        .filter(|row| !row.ok() || row.pending != Some(0))
        .count();
    if check && behind > 0 {
        anyhow::bail!(
            "fleet {} is not clean: {behind} of {} databases are behind the head or not clean",
            fleet.path.display(),
            rows.len()
        );
    }
    Ok(())
}

/// `verify --fleet`: the same table with each database's `verify` result.
pub fn verify(
    set: &MigrationSet,
    file: Option<&Path>,
    expectations: &Expectations<'_>,
    format: Format,
) -> Result<()> {
    let fleet = Fleet::load(file, set)?;
    let rows: Vec<StateRow> = fleet
        .members
        .iter()
        .map(|member| state_row(member, set, Some(expectations)))
        .collect();
    print_states(&fleet, set, &rows, format)?;
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| !row.ok())
        .map(|row| row.name.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} databases of fleet {} failed verification: {}",
            failed.len(),
            rows.len(),
            fleet.path.display(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn state_row(member: &Member, set: &MigrationSet, verify: Option<&Expectations<'_>>) -> StateRow {
    let mut row = StateRow {
        name: member.name.clone(),
        database: member.url.redacted(),
        version: None,
        pending: None,
        state: FleetState::Unreachable,
        verify_failed: None,
        error: None,
    };
    let read = (|| -> Result<()> {
        let mut client = member
            .url
            .connect(&format!("{} fleet", target_database::APPLICATION))?;
        let history = history::read(&mut client).context("reading the migration history")?;
        let statuses = statuses(set, &history);
        row.version = Some(history.newest_applied().unwrap_or(0));
        row.pending = Some(
            statuses
                .iter()
                .filter(|status| status.state == State::Pending)
                .count(),
        );
        let wrong: Vec<(State, Version)> = statuses
            .iter()
            .filter(|status| !matches!(status.state, State::Applied | State::Pending))
            .map(|status| (status.state, status.version))
            .collect();
        row.state = if wrong.is_empty() {
            FleetState::Clean
        } else {
            FleetState::Wrong(wrong)
        };
        if let Some(expectations) = verify {
            let checks = verification::checks(&mut client, set, expectations)?;
            row.verify_failed = Some(
                check::failed_names(&checks)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Ok(())
    })();
    if let Err(error) = read {
        row.error = Some(format!("{error:#}"));
    }
    row
}

fn print_states(
    fleet: &Fleet,
    set: &MigrationSet,
    rows: &[StateRow],
    format: Format,
) -> Result<()> {
    let head = set.head().unwrap_or(0);
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&StateReport {
                fleet: fleet.path.display().to_string(),
                head,
                databases: rows,
            })?
        );
        return Ok(());
    }
    let width = fleet.name_width().max("NAME".len());
    let verifying = rows.iter().any(|row| row.verify_failed.is_some());
    println!(
        "fleet {}: {} databases, head version {head}",
        fleet.path.display(),
        rows.len()
    );
    let mut header = format!(
        "{:<width$}  {:<7}  {:<7}  {:<11}",
        "NAME", "VERSION", "PENDING", "STATE"
    );
    if verifying {
        header.push_str("  VERIFY");
    }
    println!("{}", header.trim_end());
    for row in rows {
        let number = |value: Option<usize>| value.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let mut line = format!(
            "{:<width$}  {:<7}  {:<7}  {:<11}",
            row.name,
            number(row.version.and_then(|v| usize::try_from(v).ok())),
            number(row.pending),
            row.state.to_string()
        );
        if let Some(failed) = &row.verify_failed {
            if failed.is_empty() {
                line.push_str("  ok");
            } else {
                line.push_str(&format!("  FAIL: {}", failed.join(", ")));
            }
        }
        println!("{}", line.trim_end());
        if let Some(error) = &row.error {
            println!("{:<width$}  {error}", "");
        }
    }
    Ok(())
}
