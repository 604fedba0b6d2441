//! `cargo xtask bench`'s flags: one subcommand per benchmark, each count at least 1 (wrong usage,
//! exit 2, otherwise).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use migrations::Version;

use super::shared::{at_least, ScratchServerArgs};

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
        #[command(flatten)]
        server: ScratchServerArgs,
    },
    /// test-rollback-roundtrip over generated migrations against applying them once; print the ratio.
    Roundtrip {
        /// How many migrations to generate
        #[arg(long, default_value_t = 200, value_parser = at_least::<usize>(1))]
        count: usize,
        /// Rounds of each; the medians are compared
        #[arg(long, default_value_t = 3, value_parser = at_least::<usize>(1))]
        rounds: usize,
        #[command(flatten)]
        server: ScratchServerArgs,
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
        #[command(flatten)]
        server: ScratchServerArgs,
        /// Compare our engine over the URL's TLS (sslmode=require or stronger) with our engine
        /// over the same server without TLS, instead of with psql
        #[arg(long)]
        tls: bool,
    },
    /// Lint generated migrations with `cargo xtask lint` and, when available, squawk; print
    /// statements per second and the ratio.
    #[command(mut_arg("database_url", |arg| arg.requires("trace")))]
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
        #[command(flatten)]
        server: ScratchServerArgs,
    },
    /// A data backfill by our batched runner, by one UPDATE and by an OFFSET loop, each beside a
    /// writer process: rows/s, the ratio to one UPDATE, the writers' p99 and longest stall.
    #[command(mut_arg("database_url", |arg| arg.conflicts_with("with_standby")))]
    Backfill {
        /// Rows in the generated table (the OFFSET loop runs on 1/100 of them, scaled)
        #[arg(long, default_value_t = 2_000_000, value_parser = at_least::<u64>(1000))]
        rows: u64,
        #[command(flatten)]
        server: ScratchServerArgs,
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
        #[command(flatten)]
        server: ScratchServerArgs,
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
        #[command(flatten)]
        server: ScratchServerArgs,
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
        #[command(flatten)]
        server: ScratchServerArgs,
    },
}
