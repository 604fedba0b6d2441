//! The flag groups several commands flatten (the target database, the scratch server, the
//! migration log, a change's settings, fleets, the output format) and the value parsers they use.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use migrations::DatabaseUrl;

use crate::plumbing::change::ChangeOptions;
use crate::plumbing::recovery::OrphanPolicy;
use crate::plumbing::target_database::{self, GivenUrls};

/// The database a command works on, as the command line names it.
#[derive(Debug, Clone, Args)]
pub struct TargetUrlArgs {
    /// PostgreSQL URL or key/value string [default: $DATABASE_URL, else DATABASE_URL in .env,
    /// else libpq's PGHOST/PGPORT/PGDATABASE... variables, else
    /// postgres://$USER@localhost:5432/bomizzel_dev, created if missing]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// The server of a command that makes its own scratch databases.
#[derive(Debug, Clone, Args)]
pub struct ScratchServerArgs {
    /// Server to create the scratch databases on [default: as for migrate, database postgres]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Which database and which migrations.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    #[command(flatten)]
    pub target: TargetUrlArgs,
    /// The database's direct address, used instead of a pooled database URL (a transaction-mode
    /// pooler is refused) [default: $DIRECT_DATABASE_URL, unless --database-url is given]
    #[arg(long, value_name = "URL")]
    pub direct_url: Option<String>,
    /// Migrations folder [default: migrations/sql of this workspace]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The URLs given on the command line, for `target_database::resolve`.
    pub fn urls(&self) -> GivenUrls<'_> {
        GivenUrls {
            database_url: self.target.database_url.as_deref(),
            direct_url: self.direct_url.as_deref(),
        }
    }
}

/// The migration log a command that changes a database appends to.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Append one JSON line per step to this migration log [default: target/xtask/migrations.log]
    #[arg(long = "log", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// For commands that change a database.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub log: LogArgs,
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

impl ChangeArgs {
    /// What a change does about a dead runner's statement still running: wait as long as for
    /// the migration lock, unless `--stop-orphaned-run`.
    pub fn orphan_policy(&self) -> OrphanPolicy {
        OrphanPolicy {
            wait: self.lock_wait,
            stop: self.stop_orphaned_run,
        }
    }

    /// Everything `migrate` and `rollback` take from these flags, for a change of `url`.
    pub fn change_options(&self, url: &DatabaseUrl) -> ChangeOptions<'_> {
        ChangeOptions {
            log: self.log.path.as_deref(),
            lock_wait: self.lock_wait,
            orphans: self.orphan_policy(),
            settings: self.runner_settings(target_database::applied_by(url)),
        }
    }

    /// The engine settings these flags ask for, for runs recorded as made by `applied_by`.
    pub fn runner_settings(&self, applied_by: String) -> migrations::runner::Settings {
        migrations::runner::Settings {
            lock_timeout: self.lock_timeout,
            statement_timeout: self.statement_timeout,
            lock_retries: self.lock_retries,
            retry_backoff: self.retry_backoff,
            applied_by,
            replicas: migrations::replication::Policy {
                max_lag: self.max_replica_lag,
                wait: self.replica_wait,
            },
        }
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How strictly the live schema is held to the snapshot.
#[derive(Debug, Clone, Args)]
pub struct ColumnOrderArgs {
    /// A changed column order fails instead of warning
    #[arg(long)]
    pub strict_column_order: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
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
pub(crate) fn at_least<T: TryFrom<u64>>(min: u64) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |text| {
        text.parse::<u64>()
            .ok()
            .filter(|&n| n >= min)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("write a whole number, {min} or more"))
    }
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}; write a duration like 500ms, 5s or 2m"))
}
