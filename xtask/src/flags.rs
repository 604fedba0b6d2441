//! Every command's flags (clap derive): the commands and the flags many of them share, each
//! declared once and flattened where it is used (`flags/shared.rs`); `bench` and the operations
//! commands (backup, restore, deploy-db, repair) have theirs in `flags/`.

mod bench;
mod operations;
mod shared;

pub use bench::{Bench, BenchArgs};
pub use operations::{BackupArgs, BackupFormat, DeployDbArgs, RepairArgs, RestoreArgs};
use shared::parse_duration;
pub use shared::{
    ChangeArgs, ColumnOrderArgs, DatabaseArgs, FleetArgs, Format, OutputArgs, ScratchServerArgs,
};

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use migrations::Version;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Bomizzel schema migrations", version)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations in order, each in its own transaction with its history row.
    Migrate(MigrateArgs),
    /// Revert applied migrations with their down files, newest first (default: the last one).
    Rollback(RollbackArgs),
    /// Show every migration's state: applied, pending, modified, missing or failed.
    Status(StatusArgs),
    /// Create the next-numbered migration and its rollback, with the documentation header.
    New(NewArgs),
    /// Write or check the committed schema snapshot (migrations/schema.snapshot).
    Schema(SchemaArgs),
    /// On a scratch database: up, down, up again for every migration, comparing schemas, with data.
    TestRollbackRoundtrip(RoundtripArgs),
    /// Post-migration checks on a live database: history, invalid indexes, schema vs snapshot.
    Verify(VerifyArgs),
    /// Everything CI checks, in order, timed: lint, files, apply, round-trip, snapshot, verify, backend tests.
    CheckMigrations(CheckMigrationsArgs),
    /// Convert another tool's migrations folder into this layout.
    Import(ImportArgs),
    /// Prepare the backend's queries of an earlier release on the new head schema.
    CheckCompat(CheckCompatArgs),
    /// Database reachable, migrations applied, no INVALID index, and the backend's readiness.
    HealthCheck(HealthCheckArgs),
    /// Batched data migrations: where each one is.
    Backfill(BackfillArgs),
    /// Classify every migration (safe, risky, multi-step), catch unsafe operations, say the safe way.
    Lint(LintArgs),
    /// Benchmarks that print a ratio against a baseline measured in the same run.
    Bench(BenchArgs),
    /// Back up the database with pg_dump into an owner-only file named after database, time and version.
    Backup(BackupArgs),
    /// Restore a backup with pg_restore; never over existing tables without --drop-existing.
    Restore(RestoreArgs),
    /// Release scripts: preflight, backup, migrate, verify, health check; roll back or say how to restore.
    DeployDb(DeployDbArgs),
    /// Settle a failed or unfinished migration the runner cannot settle itself, after checking
    /// the live schema against the claim.
    Repair(RepairArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Stop after this version
    #[arg(long, value_name = "V")]
    pub target: Option<Version>,
    /// Apply a pending migration even though a newer one is already applied
    #[arg(long)]
    pub allow_out_of_order: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// How many migrations to revert
    #[arg(long, value_name = "N", conflicts_with = "to")]
    pub steps: Option<usize>,
    /// Revert every migration above this version (0: all of them)
    #[arg(long, value_name = "V")]
    pub to: Option<Version>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit non-zero when anything is pending, modified, missing or failed
    #[arg(long)]
    pub check: bool,
}

/// For commands that make their own scratch databases on a server.
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub scratch: ScratchServerArgs,
    /// Migrations folder [default: migrations/sql of this workspace]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Apply every migration to a scratch database and write its schema snapshot.
    Dump {
        #[command(flatten)]
        server: ServerArgs,
        /// Snapshot file [default: schema.snapshot beside the migrations folder]
        #[arg(long, value_name = "FILE")]
        snapshot: Option<PathBuf>,
        /// Only check that the file is up to date (exit 1 and list the differences otherwise)
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Args)]
pub struct RoundtripArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Start at this version (earlier migrations are only applied)
    #[arg(long, value_name = "V")]
    pub from: Option<Version>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub column_order: ColumnOrderArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Snapshot file [default: schema.snapshot beside the migrations folder]
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Pending migrations are not a failure
    #[arg(long)]
    pub allow_pending: bool,
    #[command(flatten)]
    pub column_order: ColumnOrderArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// A standby to read the schema version from (its history table); repeatable. Standbys
    /// streaming from the database are reported without it, from pg_stat_replication
    #[arg(long, value_name = "URL")]
    pub standby_url: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckMigrationsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Check backward compatibility against this git ref [default: the newest `v*` tag, if any]
    #[arg(long, value_name = "GIT_REF")]
    pub compat_ref: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub column_order: ColumnOrderArgs,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(subcommand)]
    pub command: BackfillCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackfillCommand {
    /// Running (or stopped) and finished batched data migrations with their progress.
    Status {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct HealthCheckArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The backend's base URL (its /health/ready is asked) or its readiness URL
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// How long to keep asking the backend before calling it not ready
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub wait: Duration,
    /// A standby to read the schema version from (its history table); repeatable
    #[arg(long, value_name = "URL")]
    pub standby_url: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckCompatArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The release whose queries must keep working (a tag such as v1.4.0, or any git ref)
    #[arg(long, value_name = "GIT_REF")]
    pub against: String,
    /// The git repository holding that release's .sqlx/ [default: this workspace]
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportSource {
    Diesel,
    Sqlx,
    GolangMigrate,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool the migrations come from
    #[arg(long = "from", value_enum)]
    pub source_tool: ImportSource,
    /// Its migrations folder
    pub source: PathBuf,
    /// Where to write them (must hold no migrations yet) [default: migrations/sql]
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The snake_case name (add_ticket_due_date); with --expand-contract, what to change:
    /// rename-column TABLE.COLUMN NEW_NAME, change-type TABLE.COLUMN NEW_TYPE,
    /// set-not-null TABLE.COLUMN, rename-table TABLE NEW_NAME
    #[arg(required = true, num_args = 1..)]
    pub words: Vec<String>,
    /// Write the whole expand/contract sequence for a breaking change
    #[arg(long, value_enum, value_name = "CHANGE")]
    pub expand_contract: Option<ExpandContract>,
    /// Migrations folder [default: migrations/sql of this workspace]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The migration runs outside a transaction (needed for CREATE INDEX CONCURRENTLY)
    #[arg(long)]
    pub no_transaction: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExpandContract {
    RenameColumn,
    ChangeType,
    SetNotNull,
    RenameTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    /// GitHub Actions workflow commands (annotations on the pull request)
    Github,
}

#[derive(Debug, Args)]
#[command(mut_arg("database_url", |arg| arg.requires("trace")))]
pub struct LintArgs {
    /// SQL files or folders to lint [default: the whole migrations folder]
    #[arg(value_name = "PATH", conflicts_with = "dir")]
    pub paths: Vec<PathBuf>,
    /// Migrations folder [default: migrations/sql of this workspace]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
    /// Print a rule's documentation (what it catches, why, the safe way) and exit
    #[arg(long, value_name = "RULE")]
    pub explain: Option<String>,
    /// Also run each up file, statement by statement, on a scratch database with generated rows
    /// and judge locks, rewrites, scans and row counts by what PostgreSQL did
    #[arg(long)]
    pub trace: bool,
    #[command(flatten)]
    pub scratch: ScratchServerArgs,
}
