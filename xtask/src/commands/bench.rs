//! `cargo xtask bench ...`: benchmarks, each printing a ratio against a baseline measured in the
//! same run (no absolute timings are ever asserted: the machines are noisy).

mod api;
mod backend;
mod backfill;
mod backup;
mod corpus;
mod fleet;
mod lint;
mod measure;
mod migrate;
mod online;
mod roundtrip;
mod roundtrip_import;
mod trace;
mod writer;

use anyhow::Result;

use crate::flags::{Bench, BenchArgs};

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.bench {
        Bench::Migrate {
            count,
            rounds,
            server,
            tls,
        } => migrate::run(*count, *rounds, server.database_url.as_deref(), *tls),
        Bench::Lint {
            rounds,
            trace: true,
            count,
            server,
            ..
        } => trace::run(*count, *rounds, server.database_url.as_deref()),
        Bench::Lint {
            statements, rounds, ..
        } => lint::run(*statements, *rounds),
        Bench::Api {
            seconds,
            clients,
            against,
            rounds,
            server,
        } => api::run(&api::Options {
            seconds: *seconds,
            clients: *clients,
            database_url: server.database_url.as_deref(),
            against: against.as_deref(),
            rounds: *rounds as usize,
        }),
        Bench::Roundtrip {
            import: Some(dir),
            server,
            ..
        } => roundtrip_import::run(dir, server.database_url.as_deref()),
        Bench::Roundtrip {
            count,
            rounds,
            server,
            import: None,
        } => roundtrip::run(*count, *rounds, server.database_url.as_deref()),
        Bench::Backup {
            size_mb,
            rounds,
            server,
        } => backup::run(*size_mb, *rounds, server.database_url.as_deref()),
        Bench::Backfill {
            rows,
            with_standby: true,
            ..
        } => backfill::run_with_standby(*rows),
        Bench::Backfill { rows, server, .. } => {
            backfill::run(*rows, server.database_url.as_deref())
        }
        Bench::Online {
            rows,
            clients,
            project_from,
            server,
        } => online::run(
            *rows,
            *clients,
            *project_from,
            server.database_url.as_deref(),
        ),
        Bench::Fleet {
            databases,
            parallel,
            server,
        } => fleet::run(*databases, *parallel, server.database_url.as_deref()),
        Bench::Writer {
            seconds,
            max_operations,
        } => writer::run(*seconds, *max_operations),
    }
}
