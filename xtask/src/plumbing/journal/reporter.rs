//! The observer of a database change: prints each step of the runner as it happens (a progress
//! bar or lines for batched runs) and records it in the migration log.

use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use migrations::replication::Notice;
use migrations::runner::Progress;
use migrations::runner::{Event, Observer, RunError};
use migrations::{Direction, Migration};

use super::{Entry, Journal, Outcome, Subject};
use crate::plumbing::output::{self, out, outln};

/// Prints each step as it happens and records it in the journal.
pub struct Reporter<'j> {
    journal: &'j mut Journal,
    /// A journal write failure must not interrupt a migration half-way; it is reported at the end.
    log_error: Option<anyhow::Error>,
    batches: BatchDisplay,
}

/// How a batched data migration's progress is shown: a bar on a terminal, a plain line every few
/// seconds elsewhere (CI logs).
enum BatchDisplay {
    Idle,
    Bar(ProgressBar),
    Lines { last: Instant },
}

const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(2);

impl<'j> Reporter<'j> {
    pub fn new(journal: &'j mut Journal) -> Reporter<'j> {
        Reporter {
            journal,
            log_error: None,
            batches: BatchDisplay::Idle,
        }
    }

    fn show_batch(&mut self, progress: &Progress) {
        let summary = format!(
            "{} rows in {} batches, {:.0} rows/s",
            progress.rows, progress.batches, progress.rows_per_second
        );
        if matches!(self.batches, BatchDisplay::Idle) {
            outln!();
            self.batches = if output::is_terminal() {
                let bar = ProgressBar::new(1000);
                if let Ok(style) =
                    ProgressStyle::with_template("     [{bar:30}] {percent:>3}% {msg} (eta {eta})")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                BatchDisplay::Bar(bar)
            } else {
                BatchDisplay::Lines {
                    last: Instant::now()
                        .checked_sub(PROGRESS_LINE_EVERY)
                        .unwrap_or_else(Instant::now),
                }
            };
        }
        match &mut self.batches {
            BatchDisplay::Bar(bar) => {
                bar.set_position((progress.fraction * 1000.0) as u64);
                bar.set_message(summary);
            }
            BatchDisplay::Lines { last } if last.elapsed() >= PROGRESS_LINE_EVERY => {
                outln!("     {:>3.0}% {summary}", progress.fraction * 100.0);
                *last = Instant::now();
            }
            _ => {}
        }
    }

    /// A line between progress updates: above the bar on a terminal, as it is elsewhere.
    fn show_line(&mut self, line: &str) {
        match &self.batches {
            BatchDisplay::Bar(bar) => bar.println(format!("     {line}")),
            _ => outln!("     {line}"),
        }
    }

    /// Ends a progress display before the line that says how the migration ended.
    fn end_batches(&mut self) {
        if let BatchDisplay::Bar(bar) = &self.batches {
            bar.finish_and_clear();
        }
        if !matches!(self.batches, BatchDisplay::Idle) {
            out!("     done: ");
        }
        self.batches = BatchDisplay::Idle;
    }

    fn log(
        &mut self,
        migration: &Migration,
        direction: Direction,
        outcome: Outcome,
        duration: Option<Duration>,
        error: Option<String>,
    ) {
        let entry = Entry {
            duration,
            error,
            ..Entry::new(
                Subject::Migration {
                    version: migration.version,
                    name: &migration.name,
                    direction,
                },
                outcome,
            )
        };
        if let Err(error) = self.journal.record(&entry) {
            self.log_error.get_or_insert(error);
        }
    }

    /// Fails the command if the journal could not be written, after the migrations ran.
    pub fn finish(self) -> Result<()> {
        self.log_error.map_or(Ok(()), Err)
    }

    fn cleaned_up(&mut self, migration: &Migration, dropped: &[String]) {
        outln!(
            "\n     dropped INVALID index {} left by the failed run of {}",
            dropped.join(", "),
            migration.label()
        );
        self.log(migration, Direction::Up, Outcome::CleanedUp, None, None);
    }

    fn retrying(
        &mut self,
        migration: &Migration,
        direction: Direction,
        attempt: u32,
        wait: Duration,
        error: &RunError,
    ) {
        outln!("lock timeout (attempt {attempt}), retrying in {wait:?}");
        out!("{:>4} {} ... ", direction.as_str(), migration.label());
        let error = Some(error.to_string());
        self.log(migration, direction, Outcome::Retrying, None, error);
    }

    /// A pause for lagging standbys, its end, or a standby that cannot be watched: a line
    /// between the progress updates, and a log line with the reason as its `error`.
    fn standbys(&mut self, migration: &Migration, direction: Direction, notice: &Notice) {
        let (line, outcome, reason) = match notice {
            Notice::Paused {
                after_batch,
                reasons,
            } => (
                format!("paused after batch {after_batch}: {}", reasons.join("; ")),
                Outcome::PausedForStandbys,
                Some(reasons.join("; ")),
            ),
            Notice::Resumed { waited } => (
                format!(
                    "resumed after {:.1} s: every standby is within the allowed lag",
                    waited.as_secs_f64()
                ),
                Outcome::Resumed,
                None,
            ),
            Notice::Unwatchable { standby } => (
                format!("not watching standby {standby}: its position is hidden from this role (grant it pg_monitor)"),
                Outcome::StandbyNotWatched,
                Some(standby.clone()),
            ),
        };
        self.show_line(&line);
        self.log(migration, direction, outcome, None, reason);
    }

    fn ended(
        &mut self,
        migration: &Migration,
        direction: Direction,
        duration: Duration,
        error: Option<&RunError>,
    ) {
        self.end_batches();
        let outcome = if error.is_some() {
            outln!("FAILED after {} ms", duration.as_millis());
            Outcome::Failed
        } else {
            outln!("{} ms", duration.as_millis());
            match direction {
                Direction::Up => Outcome::Applied,
                Direction::Down => Outcome::RolledBack,
            }
        };
        let error = error.map(ToString::to_string);
        self.log(migration, direction, outcome, Some(duration), error);
    }
}

impl Observer for Reporter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        match *event {
            Event::Started {
                migration,
                direction,
            } => {
                out!("{:>4} {} ... ", direction.as_str(), migration.label());
            }
            Event::CleanedUp { migration, dropped } => self.cleaned_up(migration, dropped),
            Event::Retrying {
                migration,
                direction,
                attempt,
                wait,
                error,
            } => self.retrying(migration, direction, attempt, wait, error),
            Event::Batch { progress, .. } => self.show_batch(&progress),
            Event::Replicas {
                migration,
                direction,
                notice,
            } => self.standbys(migration, direction, notice),
            Event::Finished {
                migration,
                direction,
                duration,
            } => self.ended(migration, direction, duration, None),
            Event::Failed {
                migration,
                direction,
                duration,
                error,
            } => self.ended(migration, direction, duration, Some(error)),
        }
    }
}
