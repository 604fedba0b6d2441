//! `cargo xtask rollback`: revert applied migrations with their down files, newest first.

use anyhow::Result;
use migrations::plan::{plan_rollback, RollbackTarget};
use migrations::Direction;

use crate::flags::RollbackArgs;
use crate::plumbing::{change, target_database};

pub fn run(args: &RollbackArgs) -> Result<()> {
    let target = match (args.steps, args.to) {
        (_, Some(version)) => RollbackTarget::To(version),
        (steps, None) => RollbackTarget::Steps(steps.unwrap_or(1)),
    };
    let set = target_database::load(args.database.dir.as_deref())?;
    change::run(
        "rollback",
        Direction::Down,
        &args.database,
        &args.change,
        |set, history| plan_rollback(set, history, target),
        &set,
    )
}
