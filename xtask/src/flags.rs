//! Every command's flags, in one place (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
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

/// Which database and which migrations.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL or key/value string [default: $DATABASE_URL, else DATABASE_URL in .env,
    /// else libpq's PGHOST/PGPORT/PGDATABASE... variables, else
    /// postgres://$USER@localhost:5432/bomizzel_dev, created if missing]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The database's direct address, used instead of a pooled database URL (a transaction-mode
    /// pooler is refused) [default: $DIRECT_DATABASE_URL, unless --database-url is given]
    #[arg(long, value_name = "URL")]
    pub direct_url: Option<String>,
    /// Migrations folder [default: migrations/sql of this workspace]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// For commands that change a database.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Append one JSON line per step here [default: target/xtask/migrations.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// How long to wait for another runner's migration lock
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_wait: Duration,
    /// lock_timeout for every migration, so traffic never queues behind one waiting for a lock
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// How often a migration that hit lock_timeout is retried (with doubling backoff)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub lock_retries: u32,
    /// Wait before the first retry
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub retry_backoff: Duration,
    /// statement_timeout for every migration [default: none]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub statement_timeout: Option<Duration>,
    /// When a runner died and its migration statement still runs on the server, stop that
    /// statement (cancel, then terminate its backend) instead of waiting up to --lock-wait for it
    #[arg(long)]
    pub stop_orphaned_run: bool,
    /// Batched data migrations pause between batches while a streaming standby is further
    /// behind than this (read on the primary, in pg_stat_replication)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub max_replica_lag: Duration,
    /// How long one such pause may last (or a standby stay gone) before the run stops, its
    /// committed batches kept for the next run to resume after
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub replica_wait: Duration,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit non-zero when anything is pending, modified, missing or failed
    #[arg(long)]
    pub check: bool,
}

/// For commands that make their own scratch databases on a server.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Server to create scratch databases on [default: as for migrate, database postgres]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A changed column order fails instead of warning
    #[arg(long)]
    pub strict_column_order: bool,
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
    /// A changed column order fails instead of warning
    #[arg(long)]
    pub strict_column_order: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A changed column order fails instead of warning
    #[arg(long)]
    pub strict_column_order: bool,
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
    /// Server for the trace's scratch database [default: as for migrate, database postgres]
    #[arg(long, value_name = "URL", requires = "trace")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub bench: Bench,
}

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// The backend under a list/create load from this process: throughput and latency percentiles.
    Api {
        /// How long to drive it
        #[arg(long, default_value_t = 10, value_parser = at_least::<u64>(1))]
        seconds: u64,
        /// Concurrent client threads
        #[arg(long, default_value_t = 8, value_parser = at_least::<usize>(1))]
        clients: usize,
        /// Also serve the backend of this git revision (on its own migrations) and drive the two
        /// in turn; print the ratio of their median throughputs
        #[arg(long, value_name = "GIT_REF")]
        against: Option<String>,
        /// Turns each backend gets with --against
        #[arg(long, default_value_t = 4, value_parser = at_least::<u64>(1))]
        rounds: u64,
        /// Server to create the scratch database on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// test-rollback-roundtrip over generated migrations against applying them once; print the ratio.
    Roundtrip {
        /// How many migrations to generate
        #[arg(long, default_value_t = 200, value_parser = at_least::<usize>(1))]
        count: usize,
        /// Rounds of each; the medians are compared
        #[arg(long, default_value_t = 3, value_parser = at_least::<usize>(1))]
        rounds: usize,
        /// Server to create the scratch databases on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Check this migrations folder (an imported history) instead, once, against the same
        /// check by psql and pg_dump: times, ratio, verdicts compared, coverage
        #[arg(long, value_name = "DIR", conflicts_with_all = ["count", "rounds"])]
        import: Option<PathBuf>,
    },
    /// Apply generated migrations with our engine and with psql, on the same server; print the ratio.
    Migrate {
        /// How many migrations to generate
        #[arg(long, default_value_t = 500, value_parser = at_least::<usize>(1))]
        count: usize,
        /// Rounds of each; the medians are compared
        #[arg(long, default_value_t = 3, value_parser = at_least::<usize>(1))]
        rounds: usize,
        /// Server to create the two scratch databases on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Compare our engine over the URL's TLS (sslmode=require or stronger) with our engine
        /// over the same server without TLS, instead of with psql
        #[arg(long)]
        tls: bool,
    },
    /// Lint generated migrations with `cargo xtask lint` and, when available, squawk; print
    /// statements per second and the ratio.
    Lint {
        /// How many statements to generate, up and down files together
        #[arg(long, default_value_t = 10_000, value_parser = at_least::<usize>(1))]
        statements: usize,
        /// Rounds of each; the medians are compared
        #[arg(long, default_value_t = 3, value_parser = at_least::<usize>(1))]
        rounds: usize,
        /// Instead: `lint --trace` over generated migrations against the round-trip of the same
        /// folder
        #[arg(long)]
        trace: bool,
        /// Migrations to generate for `--trace`
        #[arg(long, default_value_t = 200, requires = "trace", value_parser = at_least::<usize>(1))]
        count: usize,
        /// Server for `--trace`'s scratch databases [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL", requires = "trace")]
        database_url: Option<String>,
    },
    /// A data backfill by our batched runner, by one UPDATE and by an OFFSET loop, each beside a
    /// writer process: rows/s, the ratio to one UPDATE, the writers' p99 and longest stall.
    Backfill {
        /// Rows in the generated table (the OFFSET loop runs on 1/100 of them, scaled)
        #[arg(long, default_value_t = 2_000_000, value_parser = at_least::<u64>(1000))]
        rows: u64,
        /// Server to create the scratch database on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL", conflicts_with = "with_standby")]
        database_url: Option<String>,
        /// Instead: the batched runner on a primary of its own (port 5463) without, then with, a
        /// streaming standby (port 5464): throughput ratio and the standby's largest replay lag
        #[arg(long)]
        with_standby: bool,
    },
    /// deploy-db of safe pending migrations under the backend's load, then their naive forms:
    /// the longest stall any request saw.
    Online {
        /// Tickets in the generated table
        #[arg(long, default_value_t = 2_000_000, value_parser = at_least::<u64>(1000))]
        rows: u64,
        /// Concurrent client threads
        #[arg(long, default_value_t = 8, value_parser = at_least::<usize>(1))]
        clients: usize,
        /// Also deploy the project's own migrations from this version on, under the same load
        /// with registrations added, over as many users as tickets (a third phase, `project`)
        #[arg(long, value_name = "V")]
        project_from: Option<Version>,
        /// Server to create the scratch databases on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// `deploy-db --fleet` of the project's migrations over fresh scratch databases with
    /// `--parallel`, against one after another, in the same run; the end states compared.
    Fleet {
        /// Databases in each of the two fleets
        #[arg(long, default_value_t = 50, value_parser = at_least::<usize>(1))]
        databases: usize,
        /// Databases deployed at once in the parallel run
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least::<usize>(1))]
        parallel: usize,
        /// Server to create the scratch databases on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// The concurrent writer of `bench backfill` (a second process, on DATABASE_URL).
    #[command(hide = true)]
    Writer {
        /// Stop after this long at most
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Stop after this many statements at most
        #[arg(long, default_value_t = 10_000_000)]
        max_operations: usize,
    },
    /// `backup` and `restore` of a generated database against bare pg_dump and pg_restore; print the ratios.
    Backup {
        /// Size of the generated database
        #[arg(long, default_value_t = 1000, value_parser = at_least::<u64>(1))]
        size_mb: u64,
        /// Rounds of each; the medians are compared
        #[arg(long, default_value_t = 3, value_parser = at_least::<usize>(1))]
        rounds: usize,
        /// Server to create the scratch databases on [default: as for migrate, database postgres]
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupFormat {
    /// One compressed file, restored in a single transaction
    Custom,
    /// A folder, dumped and restored with parallel jobs
    Directory,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// PostgreSQL URL [default: as for migrate]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
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
    /// Append a JSON line to this log [default: target/xtask/migrations.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
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
    /// Append a JSON line to this log [default: target/xtask/migrations.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
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
    /// Append one JSON line here [default: target/xtask/migrations.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// How long to wait for another runner's migration lock
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_wait: Duration,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Every database of a fleet file instead of one database.
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// Every database of this fleet file, each URL from the environment variable it names
    /// [default FILE: fleet.toml beside the migrations folder]
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "database_url")]
    pub fleet: Option<Option<PathBuf>>,
}

/// A whole number of at least `min`: clap refuses anything else as wrong usage (exit 2) before
/// anything runs, so no command meets a count it cannot work with (0 rounds have no median).
fn at_least<T: TryFrom<u64>>(min: u64) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |text| {
        text.parse::<u64>()
            .ok()
            .filter(|&n| n >= min)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("write a whole number, {min} or more"))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}; write a duration like 500ms, 5s or 2m"))
}
