//! `cargo xtask`: the Bomizzel migration workflow. This file only parses flags and dispatches;
//! each command lives in its own module, found in one hop from the match below.

mod database;
mod flags;
mod journal;
mod migrate;
mod new;
mod project;
mod rollback;
mod status;

mod bench;
mod change;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let outcome = match flags.command {
        flags::Command::Migrate(args) => migrate::run(&args),
        flags::Command::Rollback(args) => rollback::run(&args),
        flags::Command::Status(args) => status::run(&args),
        flags::Command::New(args) => new::run(&args),
        flags::Command::Bench(args) => bench::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
