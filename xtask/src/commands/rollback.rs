//! `cargo xtask rollback`: revert applied migrations with their down files, newest first.

use anyhow::Result;
use migrations::apply::Request;
use migrations::plan::RollbackTarget;

use crate::flags::RollbackArgs;
use crate::plumbing::{change, target_database};

pub fn run(args: &RollbackArgs) -> Result<()> {
    let target = match (args.steps, args.to) {
        (_, Some(version)) => RollbackTarget::To(version),
        (steps, None) => RollbackTarget::Steps(steps.unwrap_or(1)),
    };
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let options = args.change.change_options(&url);
    change::run("rollback", Request::Rollback(target), &url, options, &set)
}
