//! `cargo xtask new NAME`: the next-numbered migration and its rollback, documentation included.

use anyhow::{Context, Result};
use migrations::model::{is_snake_case, label};

use crate::exit::Exit;
use crate::flags::NewArgs;
use crate::plumbing::project;

mod expand_contract;

pub fn run(args: &NewArgs) -> Result<()> {
    if let Some(change) = args.expand_contract {
        return expand_contract::run(change, &args.words, args.dir.as_deref());
    }
    let [name] = args.words.as_slice() else {
        return Err(Exit::usage(
            "`new` takes one migration name (or --expand-contract CHANGE and its arguments)",
        ));
    };
    if !is_snake_case(name) {
        return Err(Exit::usage(format!(
            "migration name `{name}` is not snake_case: use lower-case letters, digits and single underscores, starting with a letter (e.g. add_ticket_due_date)"
        )));
    }
    let dir = project::migrations_dir(args.dir.as_deref());
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create migrations folder {}", dir.display()))?;
    let version = project::next_version(&dir)?;
    let stem = label(version, name);
    let transaction_note = if args.no_transaction {
        "-- xtask: no-transaction\n"
    } else {
        ""
    };
    let up = format!(
        "-- Purpose: <why this change exists and what it enables>\n\
         -- Risk: <safe, risky or multi-step, and why; what locks it takes on which tables>\n\
         -- Rollback: <what {stem}.down.sql does, and what data it cannot bring back>\n\
         -- Performance: <rows touched, expected duration on production-sized tables>\n\
         {transaction_note}\n"
    );
    let down = format!(
        "-- Reverts {stem}.sql: undo each of its statements, last first.\n{transaction_note}\n"
    );
    let up_path = dir.join(format!("{stem}.sql"));
    let down_path = dir.join(format!("{stem}.down.sql"));
    project::create_new_file(&up_path, &up)?;
    if let Err(error) = project::create_new_file(&down_path, &down) {
        // Never leave an up file without its rollback.
        let _ = std::fs::remove_file(&up_path);
        return Err(error);
    }
    println!("created {}", up_path.display());
    println!("created {}", down_path.display());
    Ok(())
}
