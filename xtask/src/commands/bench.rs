//! `cargo xtask bench ...`: benchmarks, each printing a ratio against a baseline measured in the
//! same run (no absolute timings are ever asserted: the machines are noisy).

mod api;
mod backend;
mod backfill;
mod backup;
mod corpus;
mod fleet;
mod lint;
mod migrate;
mod online;
mod roundtrip;
mod roundtrip_import;
mod trace;
mod writer;

use std::path::Path;

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

/// Flushes what earlier runs left for the disk (a dropped database's files, dirty buffers), so
/// that no timed run pays for the one before it. Best effort: it needs a privileged role.
fn settle(server: &migrations::DatabaseUrl) {
    if let Ok(mut client) = server.connect("bomizzel-bench") {
        let _ = client.batch_execute("CHECKPOINT");
    }
}

/// The median of a few measurements, robust to one noisy round.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Migrations shaped like real ones: a table, rows, an index, a new column.
pub fn generate_migrations(dir: &Path, count: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for index in 1..=count {
        let up = format!(
            "-- Purpose: benchmark step {index}\n-- Risk: none\n-- Rollback: drop the table\n-- Performance: tiny\n\
             CREATE TABLE bench_{index} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);\n\
             INSERT INTO bench_{index} (name) SELECT 'row ' || g FROM generate_series(1, 20) AS g;\n\
             CREATE INDEX bench_{index}_name_idx ON bench_{index} (name);\n\
             ALTER TABLE bench_{index} ADD COLUMN note text;\n"
        );
        std::fs::write(dir.join(format!("V{index:04}__bench_step_{index}.sql")), up)?;
        std::fs::write(
            dir.join(format!("V{index:04}__bench_step_{index}.down.sql")),
            format!("DROP TABLE bench_{index};\n"),
        )?;
    }
    Ok(())
}
