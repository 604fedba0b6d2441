//! The flags of the commands that operate a live database: `backup`, `restore`, `deploy-db` and
//! `repair`.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgGroup, Args, ValueEnum};
use migrations::Version;

use super::shared::{
    at_least, parse_duration, ChangeArgs, DatabaseArgs, FleetArgs, LogArgs, OutputArgs,
    TargetUrlArgs,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupFormat {
    /// One compressed file, restored in a single transaction
    Custom,
    /// A folder, dumped and restored with parallel jobs
    Directory,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub target: TargetUrlArgs,
    #[arg(long, value_enum, default_value_t = BackupFormat::Custom)]
    pub format: BackupFormat,
    /// Parallel pg_dump jobs, directory format only [default: CPUs, at most 4]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Folder to write the backup into [default: target/xtask/backups]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Read the archive back and restore it into a scratch database, comparing every table's rows and checksum
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: a custom-format file or a directory-format folder
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Restore into this database on the same server (created when missing) [default: the URL's database]
    #[arg(long, value_name = "NAME")]
    pub target_db: Option<String>,
    /// Replace a database that holds tables (drops and recreates it)
    #[arg(long)]
    pub drop_existing: bool,
    /// Confirm --drop-existing without asking
    #[arg(long)]
    pub yes: bool,
    /// Parallel pg_restore jobs for a directory-format backup [default: CPUs, at most 4]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Leave out the backup's owners: objects belong to the role restoring them (or --role),
    /// for a server that lacks the source's roles
    #[arg(long)]
    pub no_owner: bool,
    /// Restore as this role (SET ROLE after connecting): it owns what --no-owner restores, and
    /// owns a database created for the restore
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DeployDbArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// With --fleet: how many databases deploy at once after the canaries
    #[arg(long, value_name = "N", default_value_t = 1, requires = "fleet", value_parser = at_least::<usize>(1))]
    pub parallel: usize,
    /// Run the preflight and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long)]
    pub yes: bool,
    /// The application is stopped: risky and multi-step migrations may run
    #[arg(long)]
    pub maintenance_window: bool,
    /// Folder for the pre-deploy backup [default: target/xtask/backups]
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// The backend's URL; its /health/ready must answer 2xx after the migrations
    #[arg(long, value_name = "URL", conflicts_with = "fleet")]
    pub health_url: Option<String>,
    /// How long the health check may take to answer 2xx
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub health_timeout: Duration,
    /// On failure, roll back this run's migrations when every one has a rollback and ran in a transaction
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// Folder for the deploy report (JSON and text) [default: target/xtask/deploys]
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Snapshot file for verify [default: schema.snapshot beside the migrations folder]
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("settlement").required(true).args(["applied", "not_applied"])))]
pub struct RepairArgs {
    /// The failed or unfinished migration
    #[arg(value_name = "VERSION")]
    pub version: Version,
    /// Its up took effect: record it as applied (the schema must show what it creates)
    #[arg(long)]
    pub applied: bool,
    /// It did not take effect: record it as not applied, dropping its INVALID leftover, so the
    /// next migrate runs it again
    #[arg(long)]
    pub not_applied: bool,
    /// Why, recorded in the migration log with who did it
    #[arg(long, value_name = "TEXT", value_parser = NonEmptyStringValueParser::new())]
    pub reason: String,
    /// Record the claim even though the schema contradicts it or cannot be checked against it
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// How long to wait for another runner's migration lock
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_wait: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}
