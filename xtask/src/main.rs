//! `cargo xtask`: the Bomizzel migration workflow. This file only parses flags and dispatches;
//! each command lives in its own module, found in one hop from the match below.

mod backfill;
mod backup;
mod bench;
mod change;
mod check_compat;
mod check_migrations;
mod database;
mod deploy_db;
mod exit;
mod flags;
mod fleet;
mod health;
mod health_check;
mod import;
mod journal;
mod lint;
mod migrate;
mod new;
mod output;
mod pg_tools;
mod pooler;
mod project;
mod recovery;
mod repair;
mod replica_pair;
mod restore;
mod rollback;
mod schema;
mod sqlx_data;
mod standbys;
mod status;
mod terminal;
mod test_rollback_roundtrip;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use exit::Exit;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let outcome = match flags.command {
        flags::Command::Migrate(args) => migrate::run(&args),
        flags::Command::Rollback(args) => rollback::run(&args),
        flags::Command::Status(args) => status::run(&args),
        flags::Command::New(args) => new::run(&args),
        flags::Command::Schema(args) => schema::run(&args),
        flags::Command::TestRollbackRoundtrip(args) => test_rollback_roundtrip::run(&args),
        flags::Command::Verify(args) => verify::run(&args),
        flags::Command::CheckMigrations(args) => check_migrations::run(&args),
        flags::Command::Import(args) => import::run(&args),
        flags::Command::CheckCompat(args) => check_compat::run(&args),
        flags::Command::HealthCheck(args) => health_check::run(&args),
        flags::Command::Backfill(args) => backfill::run(&args),
        flags::Command::Lint(args) => lint::run(&args),
        flags::Command::Bench(args) => bench::run(&args),
        flags::Command::Backup(args) => backup::run(&args),
        flags::Command::Restore(args) => restore::run(&args),
        flags::Command::DeployDb(args) => deploy_db::run(&args),
        flags::Command::Repair(args) => repair::run(&args),
    };
    match outcome {
        Ok(()) => Exit::Success.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::of(&error).into()
        }
    }
}
