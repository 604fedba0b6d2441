//! `cargo xtask`: the Bomizzel migration workflow. This file only parses flags and dispatches;
//! each command lives in its own module, found in one hop from the match below.

mod commands;
mod exit;
mod flags;
mod linter;
mod plumbing;

use std::process::ExitCode;

use clap::Parser;

use exit::Exit;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let outcome = match flags.command {
        flags::Command::Migrate(args) => commands::migrate::run(&args),
        flags::Command::Rollback(args) => commands::rollback::run(&args),
        flags::Command::Status(args) => commands::status::run(&args),
        flags::Command::New(args) => commands::new::run(&args),
        flags::Command::Schema(args) => commands::schema::run(&args),
        flags::Command::TestRollbackRoundtrip(args) => {
            commands::test_rollback_roundtrip::run(&args)
        }
        flags::Command::Verify(args) => commands::verify::run(&args),
        flags::Command::CheckMigrations(args) => commands::check_migrations::run(&args),
        flags::Command::Import(args) => commands::import::run(&args),
        flags::Command::CheckCompat(args) => commands::check_compat::run(&args),
        flags::Command::HealthCheck(args) => commands::health_check::run(&args),
        flags::Command::Backfill(args) => commands::backfill::run(&args),
        flags::Command::Lint(args) => commands::lint::run(&args),
        flags::Command::Bench(args) => commands::bench::run(&args),
        flags::Command::Backup(args) => commands::backup::run(&args),
        flags::Command::Restore(args) => commands::restore::run(&args),
        flags::Command::DeployDb(args) => commands::deploy_db::run(&args),
        flags::Command::Repair(args) => commands::repair::run(&args),
    };
    match outcome {
        Ok(()) => Exit::Success.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::of(&error).into()
        }
    }
}
