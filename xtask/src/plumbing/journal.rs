//! The migration log: one JSON line per step of every command that changes a database, and the
//! observer that prints the same steps for people.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use migrations::replication::Notice;
use migrations::runner::Progress;
use migrations::runner::{Event, Observer, RunError};
use migrations::{DatabaseUrl, Direction, Migration};
use serde::Serialize;

use crate::plumbing::output::{self, out, outln};
use crate::plumbing::project;

/// An append-only JSON-lines file. Each line is written with one `write` on an `O_APPEND` file,
/// so concurrent runners never interleave within a line.
pub struct Journal {
    file: File,
    path: PathBuf,
    command: &'static str,
    database: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Entry<'a> {
    pub version: Option<i32>,
    pub name: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub duration_ms: Option<u128>,
    pub outcome: &'a str,
    pub error: Option<String>,
    /// How an unfinished run was settled (`applied`, `not_applied`); this and the fields below
    /// are absent from lines that settle nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_as: Option<&'a str>,
    /// Who settled it, as the state table records who ran a migration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<&'a str>,
    /// Why: the reason given to `repair`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// What the live schema showed when it was settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<&'a str>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    command: &'a str,
    database: &'a str,
    #[serde(flatten)]
    entry: &'a Entry<'a>,
}

impl Journal {
    pub fn open(path: Option<&Path>, command: &'static str, url: &DatabaseUrl) -> Result<Journal> {
        let path = path.map_or_else(
            || project::target_dir().join("migrations.log"),
            Path::to_path_buf,
        );
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the log folder {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the migration log {}", path.display()))?;
        Ok(Journal {
            file,
            path,
            command,
            database: url.redacted(),
        })
    }

    pub fn record(&mut self, entry: &Entry<'_>) -> Result<()> {
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the current time")?;
        let line = Line {
            time,
            command: self.command,
            database: &self.database,
            entry,
        };
        let mut text = serde_json::to_string(&line).context("serializing a log line")?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write the migration log {}", self.path.display()))
    }

    /// Runs a command's body and logs how it ended when it ends before any step could say so
    /// (a refusal, a lock that could not be taken), so the log explains every run.
    pub fn guard<T>(&mut self, body: impl FnOnce(&mut Journal) -> Result<T>) -> Result<T> {
        let result = body(self);
        if let Err(error) = &result {
            let _ = self.record(&Entry {
                outcome: "refused",
                error: Some(format!("{error:#}")),
                ..Entry::default()
            });
        }
        result
    }
}

/// Prints each step as it happens and records it in the journal.
pub struct Reporter<'j> {
    journal: &'j mut Journal,
    /// A journal write failure must not interrupt a migration half-way; it is reported at the end.
    pub log_error: Option<anyhow::Error>,
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
        outcome: &str,
        duration: Option<Duration>,
        error: Option<&RunError>,
    ) {
        let entry = Entry {
            version: Some(migration.version),
            name: Some(&migration.name),
            direction: Some(direction.as_str()),
            duration_ms: duration.map(|duration| duration.as_millis()),
            outcome,
            error: error.map(ToString::to_string),
            ..Entry::default()
        };
        if let Err(error) = self.journal.record(&entry) {
            self.log_error.get_or_insert(error);
        }
    }

    /// Fails the command if the journal could not be written, after the migrations ran.
    pub fn finish(self) -> Result<()> {
        self.log_error.map_or(Ok(()), Err)
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
            Event::CleanedUp { migration, dropped } => {
                outln!(
                    "\n     dropped INVALID index {} left by the failed run of {}",
                    dropped.join(", "),
                    migration.label()
                );
                self.log(migration, Direction::Up, "cleaned_up", None, None);
            }
            Event::Retrying {
                migration,
                direction,
                attempt,
                wait,
                error,
            } => {
                outln!("lock timeout (attempt {attempt}), retrying in {wait:?}");
                out!("{:>4} {} ... ", direction.as_str(), migration.label());
                self.log(migration, direction, "retrying", None, Some(error));
            }
            Event::Batch { progress, .. } => self.show_batch(&progress),
            Event::Replicas {
                migration,
                direction,
                notice,
            } => {
                let (line, outcome, reason) = match notice {
                    Notice::Paused {
                        after_batch,
                        reasons,
                    } => (
                        format!("paused after batch {after_batch}: {}", reasons.join("; ")),
                        "paused_for_standbys",
                        Some(reasons.join("; ")),
                    ),
                    Notice::Resumed { waited } => (
                        format!(
                            "resumed after {:.1} s: every standby is within the allowed lag",
                            waited.as_secs_f64()
                        ),
                        "resumed",
                        None,
                    ),
                    Notice::Unwatchable { standby } => (
                        format!("not watching standby {standby}: its position is hidden from this role (grant it pg_monitor)"),
                        "standby_not_watched",
                        Some(standby.clone()),
                    ),
                };
                self.show_line(&line);
                let entry = Entry {
                    version: Some(migration.version),
                    name: Some(&migration.name),
                    direction: Some(direction.as_str()),
                    outcome,
                    error: reason,
                    ..Entry::default()
                };
                if let Err(error) = self.journal.record(&entry) {
                    self.log_error.get_or_insert(error);
                }
            }
            Event::Finished {
                migration,
                direction,
                duration,
            } => {
                self.end_batches();
                outln!("{} ms", duration.as_millis());
                let outcome = match direction {
                    Direction::Up => "applied",
                    Direction::Down => "rolled_back",
                };
                self.log(migration, direction, outcome, Some(duration), None);
            }
            Event::Failed {
                migration,
                direction,
                duration,
                error,
            } => {
                self.end_batches();
                outln!("FAILED after {} ms", duration.as_millis());
                self.log(migration, direction, "failed", Some(duration), Some(error));
            }
        }
    }
}
