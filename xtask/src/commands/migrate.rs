//! `cargo xtask migrate`: apply pending migrations.

use anyhow::Result;
use migrations::apply::Request;

use crate::flags::MigrateArgs;
use crate::plumbing::{change, target_database};

pub fn run(args: &MigrateArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    let request = Request::Migrate {
        target: args.target,
        allow_out_of_order: args.allow_out_of_order,
    };
    let url = target_database::resolve(args.database.urls())?;
    let options = args.change.change_options(&url);
    change::run("migrate", request, &url, options, &set)
}
