//! `cargo xtask deploy-db`: the strategy's staging and production checklists as one command a
//! release script can trust. Preflight (status clean, pending migrations linted, no INVALID
//! index, pg_dump usable), a backup read back with `pg_restore --list`, the pending migrations
//! under the migration lock, verify, the health check; on failure a rollback to the starting
//! version when it is safe, else the exact restore command. Every step goes to the migration log
//! and to a deploy report (JSON and text). Exit codes: see [`Exit`] and README.
//!
//! This file is the command: one database (`single.rs`: the order of the steps) or a fleet
//! (`fleet.rs`: `single.rs` for every database). `context.rs` is what every step shares,
//! `preflight.rs` refuses before anything changes, `steps.rs` backs up, applies, checks and rolls
//! back, `report.rs` writes the report, `verdicts.rs` shares the linter's verdicts across a fleet.

mod context;
mod fleet;
mod lock_estimate;
mod preflight;
mod report;
mod single;
mod steps;
mod verdicts;

use std::io::IsTerminal;

use anyhow::Result;

use crate::exit::Exit;
use crate::flags::DeployDbArgs;
use crate::plumbing::target_database;

pub fn run(args: &DeployDbArgs) -> Result<()> {
    if !args.dry_run && !args.yes && !std::io::stdin().is_terminal() {
        return Err(Exit::usage(
            "deploy-db changes the database: pass --yes to confirm (there is no terminal to ask on), or --dry-run",
        ));
    }
    let set = target_database::load(args.database.dir.as_deref())?;
    if let Some(file) = &args.fleet.fleet {
        return fleet::run(args, &set, file.as_deref());
    }
    let url = target_database::resolve(args.database.urls())?;
    let report = single::deploy(&url, &set, args, &verdicts::Verdicts::default())?.report;
    match report.error {
        None => Ok(()),
        Some(message) => Err(report.exit_code.error(message)),
    }
}
