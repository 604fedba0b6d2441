//! What `migrate` and `rollback` share: load, lock, settle what a dead runner left, then the
//! engine's apply, printed and logged. They differ only in the request.

use std::time::Instant;

use anyhow::{Context, Result};
use migrations::apply::{self, Request};
use migrations::history;
use migrations::{Direction, MigrationSet};

use crate::flags::{ChangeArgs, DatabaseArgs};
use crate::plumbing::journal::reporter::Reporter;
use crate::plumbing::journal::Journal;
use crate::plumbing::{recovery, target_database};

pub fn run(
    command: &'static str,
    request: Request,
    database_args: &DatabaseArgs,
    change: &ChangeArgs,
    set: &MigrationSet,
) -> Result<()> {
    let url = target_database::resolve(database_args.urls())?;
    let mut journal = Journal::open(change.log.path.as_deref(), command, &url)?;
    journal.guard(|journal| {
        let _lock = target_database::lock(&url, command, change.lock_wait)?;
        let mut client = url.connect(&format!("{} {command}", target_database::APPLICATION))?;
        let context = || format!("reading the migration history of {url}");
        history::ensure_tables(&mut client).with_context(context)?;
        let settings = change.runner_settings(target_database::applied_by(&url));
        recovery::recover(
            &mut client,
            set,
            journal,
            &recovery::OrphanPolicy::of(change),
            &settings.applied_by,
        )?;
        let history = history::read(&mut client).with_context(context)?;
        let started = Instant::now();
        let mut reporter = Reporter::new(journal);
        let applied = apply::apply(&mut client, set, &history, request, settings, &mut reporter);
        reporter.finish()?;
        let report = applied?;
        if report.runs.is_empty() {
            println!(
                "{url} is up to date at version {}",
                version_text(history.newest_applied())
            );
            return Ok(());
        }
        let now = history::read(&mut client).with_context(context)?;
        println!(
            "{url} is at version {} ({} {} in {} ms)",
            version_text(now.newest_applied()),
            report.completed(),
            match request.direction() {
                Direction::Up => "applied",
                Direction::Down => "rolled back",
            },
            started.elapsed().as_millis()
        );
        Ok(())
    })
}

fn version_text(version: Option<migrations::Version>) -> String {
    version.map_or_else(|| "0 (empty)".to_owned(), |version| version.to_string())
}
