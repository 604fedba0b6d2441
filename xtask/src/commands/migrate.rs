//! `cargo xtask migrate`: apply pending migrations.

use anyhow::Result;
use migrations::plan::plan_migrate;
use migrations::Direction;

use crate::flags::MigrateArgs;
use crate::plumbing::{change, target_database};

pub fn run(args: &MigrateArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    change::run(
        "migrate",
        Direction::Up,
        &args.database,
        &args.change,
        |set, history| plan_migrate(set, history, args.target, args.allow_out_of_order),
        &set,
    )
}
