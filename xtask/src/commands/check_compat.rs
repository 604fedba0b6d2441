//! `cargo xtask check-compat --against GIT_REF`: the strategy's first principle, checked with the
//! previous application's own queries. The backend's `.sqlx/` files at GIT_REF hold every query
//! it runs and the columns it expects back; each is prepared on a scratch database migrated to the
//! current head. A query that no longer prepares, or whose columns changed, breaks that release.
//!
//! Preparing misses the writes a new constraint refuses (an `INSERT` that leaves out a new NOT
//! NULL column, an `UPDATE` a new CHECK rejects), so every query also runs, with generated values,
//! over generated rows, in a transaction rolled back afterwards: once on the schema of GIT_REF's
//! own migrations and once on the head. Only a query that ran on its own schema and fails on the
//! head, for a reason that is the schema's and not the generated data's, is a break.
//!
//! `check_compat/release.rs` reads the release from git, `execution.rs` prepares and runs its
//! queries on a schema, `culprit.rs` tells the schema's refusals from the data's and finds the
//! migration that broke each query.

mod culprit;
mod execution;
mod release;

use std::path::Path;

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, MigrationSet};
use postgres::Client;

use crate::flags::CheckCompatArgs;
use crate::linter::application::Application;
use crate::plumbing::sqlx_data::RecordedQuery;
use crate::plumbing::{project, target_database};
use culprit::Suspect;
use execution::{Binding, Execution};

pub fn run(args: &CheckCompatArgs) -> Result<()> {
    let set = target_database::load(args.server.dir.as_deref())?;
    let server = target_database::server(args.server.scratch.database_url.as_deref())?;
    let repo = args.repo.clone().unwrap_or_else(project::root);
    let checked = check(&server, &set, &repo, &args.against)?;
    let breaks = &checked.breaks;
    if breaks.is_empty() {
        println!(
            "every query of {} prepares on the head schema with the same columns, and runs there as it runs on its own ({})",
            args.against,
            checked.coverage()
        );
        return Ok(());
    }
    for line in breaks {
        println!("{line}");
    }
    anyhow::bail!(
        "{} queries of the application at {} break on the new migrations",
        breaks.len(),
        args.against
    )
}

/// What checking a release's queries found.
pub struct Checked {
    /// One line per query the head schema breaks, naming the migration and object.
    pub breaks: Vec<String>,
    /// How many queries ran with generated values on the release's own schema: only those are
    /// judged by running them; the rest are judged by preparing them.
    pub executed: usize,
    pub queries: usize,
}

impl Checked {
    pub fn coverage(&self) -> String {
        format!(
            "{} of {} queries ran with generated values on the release's schema, the others were prepared",
            self.executed, self.queries
        )
    }
}

/// Checks every query of `git_ref` against the head schema.
pub fn check(
    server: &DatabaseUrl,
    set: &MigrationSet,
    repo: &Path,
    git_ref: &str,
) -> Result<Checked> {
    let queries = release::recorded_queries(repo, git_ref)?;
    if queries.is_empty() {
        anyhow::bail!("{git_ref} has no .sqlx/ query files: nothing to check against");
    }
    let release_set = release_set(set, repo, git_ref)?;
    let release_scratch = target_database::migrated_scratch(server, &release_set)
        .with_context(|| format!("building the schema of {git_ref}"))?;
    let mut release = release_scratch
        .url()
        .connect(target_database::APPLICATION)?;
    let bindings = bindings_on_release(&mut release, &queries)?;
    let runs = runs(&bindings);
    let bound = || runs.iter().map(|run| (&queries[run.query], run.binding));
    let before = execution::execute_all(&mut release, bound())?;

    let head_scratch = target_database::migrated_scratch(server, set)?;
    let mut head = head_scratch.url().connect(target_database::APPLICATION)?;
    let after = execution::execute_all(&mut head, bound())?;
    let compared = Compared {
        queries: &queries,
        bindings: &bindings,
        runs: &runs,
        before: &before,
        after: &after,
    };
    let broken = compared.broken(&mut release, &mut head)?;
    let breaks = if broken.is_empty() {
        Vec::new()
    } else {
        describe_breaks(server, set, &broken)?
    };
    Ok(Checked {
        breaks,
        executed: compared.executed(),
        queries: queries.len(),
    })
}

/// The head's migrations that `git_ref` had: the schema its queries were written for.
fn release_set(set: &MigrationSet, repo: &Path, git_ref: &str) -> Result<MigrationSet> {
    let released = release::released_versions(repo, git_ref)?;
    Ok(MigrationSet {
        dir: set.dir.clone(),
        migrations: set
            .migrations
            .iter()
            .filter(|migration| released.contains(&migration.version))
            .cloned()
            .collect(),
    })
}

/// The values come from the release's schema: the types it gives the parameters (the types its
/// `.sqlx/` data was prepared with) and the values its columns accept; the head runs the very
/// same literals. In a transaction: reading the catalog for values uses savepoints.
fn bindings_on_release(
    release: &mut Client,
    queries: &[RecordedQuery],
) -> Result<Vec<Vec<Binding>>> {
    let mut reading = release.transaction()?;
    let bindings = queries
        .iter()
        .map(|query| execution::bindings(&mut reading, query))
        .collect();
    reading.rollback()?;
    Ok(bindings)
}

/// One run of a query (by its index) with one of its bindings.
struct Run<'b> {
    query: usize,
    binding: Option<&'b Binding>,
}

/// Every run: a query with each of its bindings, or once, unbound, to be counted as not run.
fn runs(bindings: &[Vec<Binding>]) -> Vec<Run<'_>> {
    bindings
        .iter()
        .enumerate()
        .flat_map(|(query, bindings)| match bindings.as_slice() {
            [] => vec![Run {
                query,
                binding: None,
            }],
            bindings => bindings
                .iter()
                .map(|binding| Run {
                    query,
                    binding: Some(binding),
                })
                .collect(),
        })
        .collect()
}

/// Every run's execution on the release's schema (`before`) and on the head's (`after`).
struct Compared<'q> {
    queries: &'q [RecordedQuery],
    bindings: &'q [Vec<Binding>],
    runs: &'q [Run<'q>],
    before: &'q [Execution],
    after: &'q [Execution],
}

impl<'q> Compared<'q> {
    /// The queries that no longer prepare as they did, or that ran on the release's schema and
    /// fail on the head's for a reason of the schema.
    fn broken(&self, release: &mut Client, head: &mut Client) -> Result<Vec<Suspect<'q>>> {
        let application = Application::of(self.queries.iter().cloned());
        let mut broken = Vec::new();
        for (index, query) in self.queries.iter().enumerate() {
            if let Some(why) = execution::incompatibility(head, query) {
                broken.push(Suspect {
                    query,
                    binding: self.bindings[index].first(),
                    why,
                });
                continue;
            }
            for (number, run) in self
                .runs
                .iter()
                .enumerate()
                .filter(|(_, run)| run.query == index)
            {
                if let (Execution::Worked, Execution::Failed(failure)) =
                    (&self.before[number], &self.after[number])
                {
                    if culprit::caused_by_schema(failure, release, head, &application, query)? {
                        broken.push(Suspect {
                            query,
                            binding: run.binding,
                            why: failure.to_string(),
                        });
                        break;
                    }
                }
            }
        }
        Ok(broken)
    }

    /// How many queries ran with generated values on the release's schema.
    fn executed(&self) -> usize {
        (0..self.queries.len())
            .filter(|index| {
                self.runs.iter().zip(self.before).any(|(run, execution)| {
                    run.query == *index && matches!(execution, Execution::Worked)
                })
            })
            .count()
    }
}

/// One text per broken query: the file, why, the migration that broke it, the query.
fn describe_breaks(
    server: &DatabaseUrl,
    set: &MigrationSet,
    broken: &[Suspect<'_>],
) -> Result<Vec<String>> {
    let culprits = culprit::first_breaking_migrations(server, set, broken)?;
    Ok(broken
        .iter()
        .zip(culprits)
        .map(|(suspect, culprit)| {
            format!(
                "{}: {}\n    broken by {}\n    query: {}",
                suspect.query.file,
                suspect.why,
                culprit.unwrap_or_else(|| "the schema as a whole".to_owned()),
                one_line(&suspect.query.query)
            )
        })
        .collect())
}

fn one_line(sql: &str) -> String {
    let joined = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 120 {
        format!("{}...", joined.chars().take(117).collect::<String>())
    } else {
        joined
    }
}
