//! What `migrate` and `rollback` share: load, lock, settle what a dead runner left, then the
//! engine's apply, printed and logged. They differ only in the request.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::apply::{self, Request};
use migrations::history;
use migrations::runner::Settings;
use migrations::{DatabaseUrl, Direction, MigrationSet};

use crate::plumbing::journal::reporter::Reporter;
use crate::plumbing::journal::Journal;
use crate::plumbing::recovery::{self, OrphanPolicy};
use crate::plumbing::target_database;

/// How a change runs: where it logs, how long it waits for the lock, what it does about a dead
/// runner's statement, and the runner's settings.
pub struct ChangeOptions<'a> {
    pub log: Option<&'a Path>,
    pub lock_wait: Duration,
    pub orphans: OrphanPolicy,
    pub settings: Settings,
}

pub fn run(
    command: &'static str,
    request: Request,
    url: &DatabaseUrl,
    options: ChangeOptions<'_>,
    set: &MigrationSet,
) -> Result<()> {
    let mut journal = Journal::open(options.log, command, url)?;
    journal.guard(|journal| {
        let _lock = target_database::lock(url, command, options.lock_wait)?;
        let mut client = url.connect(&format!("{} {command}", target_database::APPLICATION))?;
        let context = || format!("reading the migration history of {url}");
        history::ensure_tables(&mut client).with_context(context)?;
        let settings = options.settings;
        recovery::recover(
            &mut client,
            set,
            journal,
            &options.orphans,
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
