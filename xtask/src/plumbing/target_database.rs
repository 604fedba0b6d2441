//! Which database a command talks to, and the steps every command shares: load the folder,
//! connect, take the migration lock.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use migrations::libpq;
use migrations::lock::MigrationLock;
use migrations::{DatabaseUrl, MigrationSet, ScratchDatabase};

use crate::plumbing::pooler;
use crate::plumbing::project;

pub const APPLICATION: &str = "bomizzel-xtask";
const DEFAULT_DATABASE: &str = "bomizzel_dev";

/// Where the URL came from, so a bad one is blamed on the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Flag,
    Environment,
    DotEnv(String),
    /// libpq's variables, named (`PGHOST, PGDATABASE`).
    Libpq(String),
    /// The local default database, with the libpq variables that were set (user, password ...).
    Default(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag => f.write_str("--database-url"),
            Origin::Environment => f.write_str("DATABASE_URL"),
            Origin::DotEnv(path) => write!(f, "DATABASE_URL in {path}"),
            Origin::Libpq(names) => write!(f, "the libpq variables ({names})"),
            Origin::Default(names) if names.is_empty() => f.write_str("the default database URL"),
            Origin::Default(names) => write!(f, "the default database URL with {names}"),
        }
    }
}

/// The database's URLs as the command line gives them (`--database-url`, `--direct-url`).
#[derive(Debug, Clone, Copy)]
pub struct GivenUrls<'a> {
    pub database_url: Option<&'a str>,
    pub direct_url: Option<&'a str>,
}

/// Resolves the database URL: the direct URL when there is one (see `pooler::direct_url`), else
/// the flag, else `DATABASE_URL`, else `.env`, else libpq's variables, else the local default
/// database, which is created when missing (and only that one: a typo in a given URL must fail).
pub fn resolve(given: GivenUrls<'_>) -> Result<DatabaseUrl> {
    if let Some(direct) = pooler::direct_url(given.direct_url, given.database_url.is_some())? {
        return Ok(direct);
    }
    let (url, origin) = configured(given.database_url)?;
    if matches!(origin, Origin::Default(_))
        && migrations::database::create_database_if_missing(&url, APPLICATION)?
    {
        println!("created database {url}");
    }
    Ok(url)
}

/// The server a command that makes its own scratch databases works on (nothing is created here).
pub fn server(database_url: Option<&str>) -> Result<DatabaseUrl> {
    Ok(configured(database_url)?.0.with_database("postgres"))
}

fn configured(flag: Option<&str>) -> Result<(DatabaseUrl, Origin)> {
    let (text, origin) = if let Some(url) = flag {
        (url.to_owned(), Origin::Flag)
    } else if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()) {
        (url, Origin::Environment)
    } else if let Some((url, path)) = dotenv_url()? {
        (url, Origin::DotEnv(path))
    } else {
        let environment = libpq::Environment::read();
        let names = environment.names().join(", ");
        if environment.names_location() {
            (environment.conninfo(&[]), Origin::Libpq(names))
        } else {
            let defaults = [
                ("host", "localhost"),
                ("port", "5432"),
                ("dbname", DEFAULT_DATABASE),
            ];
            (environment.conninfo(&defaults), Origin::Default(names))
        }
    };
    let url: DatabaseUrl = text
        .parse()
        .with_context(|| format!("invalid database URL in {origin}"))?;
    if origin == Origin::Flag && url.password().is_some() {
        eprintln!(
            "warning: --database-url holds a password, which shell history and process lists keep; \
             give it through DATABASE_URL, PGPASSWORD or the password file (~/.pgpass) instead"
        );
    }
    let (url, warning) = libpq::complete_password(&url);
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    Ok((url, origin))
}

/// `DATABASE_URL` from the nearest `.env` (this directory or a parent), without touching our env.
fn dotenv_url() -> Result<Option<(String, String)>> {
    let Some(path) = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .map(|dir| dir.join(".env"))
            .find(|candidate| candidate.is_file())
    }) else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    for item in dotenvy::from_path_iter(&path).with_context(|| format!("cannot read {shown}"))? {
        // dotenvy's parse error quotes the whole line, which may hold a password: say less.
        let (key, value) = item.map_err(|_| {
            anyhow::anyhow!("cannot parse {shown}: every line must be KEY=VALUE or a # comment")
        })?;
        if key == "DATABASE_URL" && !value.is_empty() {
            return Ok(Some((value, shown)));
        }
    }
    Ok(None)
}

/// Loads the migrations folder, refusing it whole when anything in it is wrong.
pub fn load(dir: Option<&Path>) -> Result<MigrationSet> {
    let dir = project::migrations_dir(dir);
    if !dir.is_dir() {
        anyhow::bail!("migrations folder {} does not exist", dir.display());
    }
    migrations::load_dir(&dir)
        .with_context(|| format!("migrations folder {} cannot be used", dir.display()))
}

/// Takes the migration lock for the whole command, telling the user when it has to wait.
pub fn lock(url: &DatabaseUrl, command: &str, wait: Duration) -> Result<MigrationLock> {
    pooler::refuse_transaction_pooling(url, APPLICATION)?;
    let lock = MigrationLock::acquire(url, &format!("{APPLICATION} {command}"), wait, |holder| {
        eprintln!("waiting up to {wait:?} for the migration lock, held by {holder}")
    })?;
    Ok(lock)
}

/// Who changes the database, as the state table records it: `user@host (bomizzel-xtask)`.
pub fn applied_by(url: &DatabaseUrl) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{}@{host} ({APPLICATION})", url.user())
}

/// A scratch database on `server` with every migration of `set` applied by the engine, dropped
/// when the value goes away.
pub fn migrated_scratch(server: &DatabaseUrl, set: &MigrationSet) -> Result<ScratchDatabase> {
    Ok(migrations::apply::migrated_scratch(
        server,
        set,
        APPLICATION,
    )?)
}
