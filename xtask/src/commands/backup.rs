//! `cargo xtask backup`: the real `pg_dump`, to a file only its owner can read, named after the
//! database, the time and the schema version; optionally proven restorable.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{history, DatabaseUrl, ScratchDatabase};
use postgres::IsolationLevel;
use xshell::{cmd, Shell};

use crate::exit::Exit;
use crate::flags::{BackupArgs, BackupFormat};
use crate::plumbing::journal::{Archive, Entry, Journal, Outcome, Subject};
use crate::plumbing::pg_tools::{self, ServerVersion};
use crate::plumbing::project;
use crate::plumbing::target_database::{self, GivenUrls};

/// How much to prove about a fresh archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Nothing,
    /// `pg_restore --list` reads the whole table of contents back.
    List,
    /// Also restored into a scratch database, every table's rows and checksum compared.
    Restore,
}

pub struct Options {
    pub format: BackupFormat,
    pub jobs: usize,
    pub out: PathBuf,
    pub verify: Verify,
}

/// A finished backup.
#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub duration: Duration,
    pub schema_version: i32,
    /// What the verification found, one line each.
    pub verified: Vec<String>,
}

pub fn run(args: &BackupArgs) -> Result<()> {
    if args.jobs.is_some() && args.format == BackupFormat::Custom {
        return Err(Exit::usage(
            "--jobs needs --format directory: a custom-format archive is written by one process",
        ));
    }
    let url = target_database::resolve(GivenUrls {
        database_url: args.target.database_url.as_deref(),
        direct_url: None,
    })?;
    let mut journal = Journal::open(args.log.path.as_deref(), "backup", &url)?;
    let options = Options {
        format: args.format,
        jobs: args.jobs.unwrap_or_else(pg_tools::default_jobs).max(1),
        out: args.out.clone().unwrap_or_else(default_dir),
        verify: if args.verify {
            Verify::Restore
        } else {
            Verify::Nothing
        },
    };
    let started = Instant::now();
    let outcome = create(&url, &options);
    log(&mut journal, &outcome, started.elapsed())?;
    let backup = outcome?;
    println!(
        "backed up {url} at version {} to {} ({}) in {}",
        backup.schema_version,
        backup.path.display(),
        pg_tools::human_size(backup.size_bytes),
        pg_tools::seconds(backup.duration)
    );
    for line in &backup.verified {
        println!("verified: {line}");
    }
    Ok(())
}

/// Where backups go when no folder is given.
pub fn default_dir() -> PathBuf {
    project::target_dir().join("backups")
}

/// One log line for a backup, however it ended.
pub fn log(journal: &mut Journal, outcome: &Result<Backup>, elapsed: Duration) -> Result<()> {
    let (archive, result, error) = match outcome {
        Ok(backup) => (
            Some(Archive {
                path: &backup.path,
                size_bytes: backup.size_bytes,
                schema_version: backup.schema_version,
            }),
            Outcome::BackedUp,
            None,
        ),
        Err(error) => (None, Outcome::Failed, Some(format!("{error:#}"))),
    };
    journal.record(&Entry {
        duration: Some(elapsed),
        error,
        ..Entry::new(Subject::Backup(archive), result)
    })
}

/// Dumps `url`'s database with pg_dump into a new file (or folder) under `options.out`.
pub fn create(url: &DatabaseUrl, options: &Options) -> Result<Backup> {
    let application = format!("{} backup", target_database::APPLICATION);
    let mut client = url.connect(&application)?;
    let server = ServerVersion::query(&mut client)?;
    let sh = Shell::new()?;
    let pg_dump = pg_tools::find(&sh, "pg_dump", &server)?;
    let schema_version = history::read(&mut client)
        .context("reading the migration history")?
        .newest_applied()
        .unwrap_or(0);
    let path = new_path(url, schema_version, options)?;
    let outcome = dump_and_verify(
        &sh,
        url,
        &mut client,
        &pg_dump,
        &server,
        &path,
        schema_version,
        options,
    );
    if outcome.is_err() {
        // Never leave a half-written archive that looks like a backup.
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn dump_and_verify(
    sh: &Shell,
    url: &DatabaseUrl,
    client: &mut postgres::Client,
    pg_dump: &pg_tools::Tool,
    server: &ServerVersion,
    path: &Path,
    schema_version: i32,
    options: &Options,
) -> Result<Backup> {
    // With a full verification, pg_dump and the source checksums read one exported snapshot, so
    // writes made meanwhile cannot show up as a difference.
    let mut snapshot = match options.verify {
        Verify::Restore => Some(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .context("starting the snapshot for verification")?,
        ),
        _ => None,
    };
    let snapshot_id: Option<String> = match &mut snapshot {
        Some(transaction) => Some(
            transaction
                .query_one("SELECT pg_export_snapshot()", &[])
                .context("exporting the snapshot for verification")?
                .get(0),
        ),
        None => None,
    };
    let program = &pg_dump.path;
    let mut args: Vec<String> = vec!["--no-password".into()];
    match options.format {
        BackupFormat::Custom => args.push("--format=custom".into()),
        BackupFormat::Directory => {
            args.push("--format=directory".into());
            args.push(format!("--jobs={}", options.jobs));
        }
    }
    if let Some(id) = &snapshot_id {
        args.push(format!("--snapshot={id}"));
    }
    let started = Instant::now();
    pg_tools::run_tool(
        pg_tools::connect_env(cmd!(sh, "{program} {args...} --file {path}"), url),
        &format!("pg_dump of database \"{}\"", url.database()),
    )?;
    let duration = started.elapsed();
    restrict(path)?;
    let size_bytes = pg_tools::size_on_disk(path)?;
    let mut verified = Vec::new();
    if options.verify != Verify::Nothing {
        verified.push(list(sh, server, path)?);
    }
    if let Some(mut transaction) = snapshot {
        let source = pg_tools::fingerprints(&mut transaction)?;
        transaction
            .commit()
            .context("ending the verification snapshot")?;
        verified.push(restore_and_compare(
            sh, url, server, path, options, &source,
        )?);
    }
    Ok(Backup {
        path: path.to_path_buf(),
        size_bytes,
        duration,
        schema_version,
        verified,
    })
}

/// `<db>-<UTC timestamp>-v<version>.dump`, created empty with mode 0600 before pg_dump writes
/// into it (a folder with mode 0700 for the directory format), so no other user can ever read it.
fn new_path(url: &DatabaseUrl, schema_version: i32, options: &Options) -> Result<PathBuf> {
    let out = &options.out;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| format!("cannot create the backup folder {}", out.display()))?;
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let safe_name: String = url
        .database()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = format!("{safe_name}-{stamp}-v{schema_version}");
    let path = match options.format {
        BackupFormat::Custom => out.join(format!("{stem}.dump")),
        BackupFormat::Directory => out.join(stem),
    };
    let created = match options.format {
        BackupFormat::Custom => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map(drop),
        BackupFormat::Directory => std::fs::DirBuilder::new().mode(0o700).create(&path),
    };
    created.with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}

/// Owner-only permissions on the archive and everything in it (pg_dump writes the files of a
/// directory-format archive with the umask's mode).
fn restrict(path: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        let mode = if entry.file_type().is_dir() {
            0o700
        } else {
            0o600
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot restrict {}", entry.path().display()))?;
    }
    Ok(())
}

/// `pg_restore --list`: the archive's whole table of contents reads back.
pub fn list(sh: &Shell, server: &ServerVersion, path: &Path) -> Result<String> {
    let pg_restore = pg_tools::find(sh, "pg_restore", server)?;
    let program = &pg_restore.path;
    let listing = pg_tools::run_tool(
        cmd!(sh, "{program} --list {path}"),
        &format!("pg_restore --list {}", path.display()),
    )?;
    let entries = listing
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with(';'))
        .count();
    Ok(format!("pg_restore --list reads {entries} entries back"))
}

/// Restores the archive into a scratch database and compares every table with the source.
fn restore_and_compare(
    sh: &Shell,
    url: &DatabaseUrl,
    server: &ServerVersion,
    path: &Path,
    options: &Options,
    source: &std::collections::BTreeMap<String, pg_tools::Fingerprint>,
) -> Result<String> {
    let scratch = ScratchDatabase::create(url, "bomizzel_verify")
        .with_context(|| format!("creating a scratch database on {}", url.server()))?;
    let pg_restore = pg_tools::find(sh, "pg_restore", server)?;
    let program = &pg_restore.path;
    let jobs = format!("--jobs={}", options.jobs.max(pg_tools::default_jobs()));
    let target = scratch.name();
    let started = Instant::now();
    pg_tools::run_tool(
        pg_tools::connect_env(
            cmd!(
                sh,
                "{program} --no-password --exit-on-error --no-owner --no-privileges {jobs} --dbname {target} {path}"
            ),
            scratch.url(),
        ),
        &format!("restoring {} into a scratch database", path.display()),
    )?;
    let restored_in = started.elapsed();
    let mut client = scratch
        .url()
        .connect(&format!("{} backup", target_database::APPLICATION))?;
    let copy = pg_tools::fingerprints(&mut client)?;
    drop(client);
    let differences = pg_tools::compare_fingerprints(source, &copy);
    if !differences.is_empty() {
        anyhow::bail!(
            "{} does not restore to the data it was taken from: {}",
            path.display(),
            pg_tools::describe_differences(&differences)
        );
    }
    let rows: i64 = source.values().map(|fingerprint| fingerprint.rows).sum();
    Ok(format!(
        "restored into a scratch database in {}: {} tables, {rows} rows, every row count and content checksum equal to the source",
        pg_tools::seconds(restored_in),
        source.len()
    ))
}
