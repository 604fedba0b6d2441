//! `cargo xtask check-migrations`: what CI runs, identical on a laptop. Each step is timed and
//! reported; a step whose input a failed step should have produced is skipped, not run on garbage.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::schema::{Scope, Snapshot};
use migrations::{DatabaseUrl, MigrationSet, ScratchDatabase};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::commands::{check_compat, schema, test_rollback_roundtrip};
use crate::flags::{CheckMigrationsArgs, Format};
use crate::linter;
use crate::plumbing::check::{self, Layout, Verdict};
use crate::plumbing::verification::{self, Expectations};
use crate::plumbing::{project, target_database};

#[derive(Serialize)]
struct StepReport {
    name: &'static str,
    /// `passed`, `failed` or `skipped`.
    result: Verdict,
    duration_ms: u128,
    details: Vec<String>,
}

struct Steps {
    reports: Vec<StepReport>,
    format: Format,
    total: usize,
}

impl Steps {
    /// Runs one step: `Ok(details)` passes, `Err` fails with the error's lines as details.
    fn run<T>(
        &mut self,
        name: &'static str,
        body: impl FnOnce() -> Result<(T, Vec<String>)>,
    ) -> Option<T> {
        self.announce(name);
        let started = Instant::now();
        let (value, result, details) = match body() {
            Ok((value, details)) => (Some(value), Verdict::Passed, details),
            Err(error) => (
                None,
                Verdict::Failed,
                format!("{error:#}").lines().map(str::to_owned).collect(),
            ),
        };
        self.record(name, result, started.elapsed(), details);
        value
    }

    fn skip(&mut self, name: &'static str, because: &str) {
        self.announce(name);
        self.record(
            name,
            Verdict::Skipped,
            Duration::ZERO,
            vec![format!("skipped: {because}")],
        );
    }

    fn announce(&self, name: &str) {
        let line = format!("==> [{}/{}] {name}", self.reports.len() + 1, self.total);
        // In JSON mode stdout carries only the report.
        match self.format {
            Format::Text => println!("{line}"),
            Format::Json => eprintln!("{line}"),
        }
    }

    fn record(
        &mut self,
        name: &'static str,
        result: Verdict,
        duration: Duration,
        details: Vec<String>,
    ) {
        if self.format == Format::Text {
            for detail in &details {
                println!("    {detail}");
            }
            println!("    {} in {} ms", result_text(result), duration.as_millis());
        }
        self.reports.push(StepReport {
            name,
            result,
            duration_ms: duration.as_millis(),
            details,
        });
    }
}

/// A step's result as the text report prints it.
fn result_text(result: Verdict) -> &'static str {
    match result {
        Verdict::Passed | Verdict::Warning => "passed",
        Verdict::Failed => "FAILED",
        Verdict::Skipped => "skipped",
    }
}

/// What every step reads: the server for scratch databases, the folder, the flags.
struct Inputs<'a> {
    server: DatabaseUrl,
    dir: PathBuf,
    args: &'a CheckMigrationsArgs,
}

const NOT_USABLE: &str = "the migration files are not usable";

pub fn run(args: &CheckMigrationsArgs) -> Result<()> {
    let inputs = Inputs {
        server: target_database::server(args.server.scratch.database_url.as_deref())?,
        dir: project::migrations_dir(args.server.dir.as_deref()),
        args,
    };
    let mut steps = Steps {
        reports: Vec::new(),
        format: args.output.format,
        total: 8,
    };
    lint(&mut steps, &inputs);
    let set = migration_files(&mut steps, &inputs);
    let scratch = match &set {
        Some(set) => apply_all(&mut steps, &inputs, set),
        None => {
            steps.skip("apply all on a scratch database", NOT_USABLE);
            None
        }
    };
    match &set {
        Some(set) => rollback_roundtrip(&mut steps, &inputs, set),
        None => steps.skip("rollback round-trip", NOT_USABLE),
    }
    match (&set, &scratch) {
        (Some(set), Some(scratch)) => on_the_migrated_scratch(&mut steps, &inputs, set, scratch),
        _ => {
            for name in [
                "schema snapshot up to date",
                "verify",
                "backend tests on the migrated database",
            ] {
                steps.skip(name, "there is no migrated scratch database");
            }
        }
    }
    backward_compatibility(&mut steps, &inputs, set.as_ref());
    finish(&steps, args.output.format)
}

fn lint(steps: &mut Steps, inputs: &Inputs<'_>) {
    steps.run("lint", || {
        let (report, blocking) = linter::check_folder(&inputs.dir, &inputs.server);
        let lines: Vec<String> = report.lines().map(str::to_owned).collect();
        if blocking > 0 {
            anyhow::bail!(
                "{}\nlint failed: {blocking} unacknowledged errors",
                lines.join("\n")
            );
        }
        Ok(((), lines))
    });
}

fn migration_files(steps: &mut Steps, inputs: &Inputs<'_>) -> Option<MigrationSet> {
    steps.run("migration files", || {
        let set = target_database::load(Some(&inputs.dir))?;
        let summary = format!(
            "{} migrations, each with its rollback, in {}",
            set.migrations.len(),
            inputs.dir.display()
        );
        Ok((set, vec![summary]))
    })
}

fn apply_all(
    steps: &mut Steps,
    inputs: &Inputs<'_>,
    set: &MigrationSet,
) -> Option<ScratchDatabase> {
    steps.run("apply all on a scratch database", || {
        let scratch = target_database::migrated_scratch(&inputs.server, set)?;
        let head = set.head().unwrap_or(0);
        Ok((scratch, vec![format!("reached version {head}")]))
    })
}

fn rollback_roundtrip(steps: &mut Steps, inputs: &Inputs<'_>, set: &MigrationSet) {
    steps.run("rollback round-trip", || {
        let report = test_rollback_roundtrip::run_on_scratch(
            &inputs.server,
            set,
            None,
            inputs.args.column_order.strict_column_order,
        )?;
        let details = test_rollback_roundtrip::text_lines(&report);
        let failed = report.migrations.iter().filter(|m| !m.passed()).count();
        if failed > 0 {
            anyhow::bail!(
                "{}\n{failed} migrations failed the round-trip",
                details.join("\n")
            );
        }
        Ok(((), details))
    });
}

/// The steps that read the scratch database every migration was applied to.
fn on_the_migrated_scratch(
    steps: &mut Steps,
    inputs: &Inputs<'_>,
    set: &MigrationSet,
    scratch: &ScratchDatabase,
) {
    let snapshot_path = project::snapshot_path(&inputs.dir, None);
    steps.run("schema snapshot up to date", || {
        snapshot_up_to_date(scratch, set, &snapshot_path)
    });
    steps.run("verify", || {
        let mut client = scratch.url().connect(target_database::APPLICATION)?;
        let expectations = Expectations {
            snapshot: &snapshot_path,
            allow_pending: false,
            strict_column_order: inputs.args.column_order.strict_column_order,
        };
        let checks = verification::checks(&mut client, set, &expectations)?;
        let lines = check::render(&checks, Layout::Block { indent: 0 });
        if !check::failed_names(&checks).is_empty() {
            anyhow::bail!("{}", lines.join("\n"));
        }
        Ok(((), lines))
    });
    let projects_own = inputs.dir.canonicalize().ok()
        == project::root().join("migrations/sql").canonicalize().ok();
    if projects_own {
        steps.run("backend tests on the migrated database", || {
            let sh = Shell::new()?;
            sh.change_dir(project::root());
            cmd!(sh, "cargo test --package backend")
                .env("DATABASE_URL", scratch.url().secret_conninfo())
                .quiet()
                .run()
                .context("the backend's tests failed")?;
            Ok(((), vec!["cargo test --package backend passed".to_owned()]))
        });
    } else {
        steps.skip(
            "backend tests on the migrated database",
            "the backend's tests run on the project's own migrations, not on another folder",
        );
    }
}

fn snapshot_up_to_date(
    scratch: &ScratchDatabase,
    set: &MigrationSet,
    snapshot_path: &Path,
) -> Result<((), Vec<String>)> {
    let mut client = scratch.url().connect(target_database::APPLICATION)?;
    let live = Snapshot::read(&mut client, Scope::All).context("reading the schema")?;
    let expected = schema::file_text(set.head().unwrap_or(0), &live);
    let differences = schema::differences_from_file(snapshot_path, &expected)?;
    if !differences.is_empty() {
        anyhow::bail!(
            "{} is out of date; run `cargo xtask schema dump` and commit it\n{}",
            snapshot_path.display(),
            differences.join("\n")
        );
    }
    Ok((
        (),
        vec![format!(
            "{} matches the head schema",
            snapshot_path.display()
        )],
    ))
}

fn backward_compatibility(steps: &mut Steps, inputs: &Inputs<'_>, set: Option<&MigrationSet>) {
    const NAME: &str = "backward compatibility with the last release";
    let (set, release) = match (set, newest_release(inputs.args.compat_ref.as_deref())) {
        (Some(set), Some(release)) => (set, release),
        (None, _) => return steps.skip(NAME, NOT_USABLE),
        (_, None) => return steps.skip(NAME, "no release tag v* yet and no --compat-ref"),
    };
    steps.run(NAME, || {
        let checked = check_compat::check(&inputs.server, set, &project::root(), &release)?;
        let breaks = &checked.breaks;
        if !breaks.is_empty() {
            anyhow::bail!(
                "{}\n{} queries of {release} break",
                breaks.join("\n"),
                breaks.len()
            );
        }
        Ok((
            (),
            vec![format!(
                "every query of {release} still prepares, with the same columns, and runs as on its own schema ({})",
                checked.coverage()
            )],
        ))
    });
}

/// The JSON report or the summary table; the error names the failed steps.
fn finish(steps: &Steps, format: Format) -> Result<()> {
    let failed: Vec<&str> = steps
        .reports
        .iter()
        .filter(|step| step.result == Verdict::Failed)
        .map(|step| step.name)
        .collect();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "passed": failed.is_empty(),
                "steps": steps.reports,
            }))?
        ),
        Format::Text => print_summary(&steps.reports),
    }
    if !failed.is_empty() {
        anyhow::bail!("check-migrations failed: {}", failed.join(", "));
    }
    Ok(())
}

fn print_summary(reports: &[StepReport]) {
    let width = reports
        .iter()
        .map(|step| step.name.len())
        .max()
        .unwrap_or(0);
    println!("\n{:<width$}  {:<7}  {:>9}", "STEP", "RESULT", "TIME");
    for step in reports {
        println!(
            "{:<width$}  {:<7}  {:>6} ms",
            step.name,
            result_text(step.result),
            step.duration_ms
        );
    }
}

/// The ref to check compatibility against: the one given, else the newest `v*` tag.
fn newest_release(given: Option<&str>) -> Option<String> {
    if let Some(given) = given {
        return Some(given.to_owned());
    }
    let sh = Shell::new().ok()?;
    sh.change_dir(project::root());
    let tags = cmd!(sh, "git tag --list v* --sort=-v:refname")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    tags.lines().next().map(str::to_owned)
}
