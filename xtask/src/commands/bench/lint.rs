//! `cargo xtask bench lint`: `cargo xtask lint` (the real command, as a process, release build)
//! over generated migrations holding N statements, and squawk (the Rust PostgreSQL migration
//! linter) over the same files in the same run. Prints statements per second and the ratio.
//! Target: at least as fast as squawk. Then the accuracy of both on the labelled corpus
//! (xtask/tests/corpus, see `corpus`): recall on risky files and false alarms on safe ones.
//! Target: recall >= 95%, at most one false alarm per 15 safe files, and better than squawk.
//! squawk is taken from PATH, else installed from PyPI (`squawk-cli`) into target/xtask; without
//! it, only our figures are printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::corpus::{self, Score};
use crate::plumbing::project;

/// Statements in one generated migration, up and down files together.
const STATEMENTS_PER_MIGRATION: usize = 8;

pub fn run(statements: usize, rounds: usize) -> Result<()> {
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let dir = work.path().join("sql");
    let migrations = statements.div_ceil(STATEMENTS_PER_MIGRATION).max(1);
    generate(&dir, migrations)?;
    let statements = migrations * STATEMENTS_PER_MIGRATION;
    let sh = Shell::new()?;
    sh.change_dir(project::root());
    let xtask = optimised_xtask(&sh)?;
    let squawk = match find_or_install_squawk(&sh) {
        Ok(squawk) => Some(squawk),
        Err(reason) => {
            println!("squawk unavailable ({reason}): measuring cargo xtask lint alone");
            None
        }
    };
    println!(
        "{statements} statements in {} files ({migrations} migrations), {rounds} rounds",
        migrations * 2
    );

    let lint = || {
        cmd!(sh, "{xtask} lint --dir {dir} --format json")
            .quiet()
            .ignore_stdout()
            .run()
            .context("cargo xtask lint failed on the generated migrations")
    };
    let pattern = dir.join("*.sql");
    // squawk exits non-zero when it finds something; only its time matters here.
    let run_squawk = |squawk: &Path| {
        cmd!(sh, "{squawk} --reporter json {pattern}")
            .quiet()
            .ignore_status()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .context("running squawk")
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first, so a warming cache favours neither.
        if round % 2 == 0 {
            if let Some(squawk) = &squawk {
                theirs.push(time(round, "squawk", statements, || run_squawk(squawk))?);
            }
        }
        ours.push(time(round, "cargo xtask lint", statements, lint)?);
        if round % 2 == 1 {
            if let Some(squawk) = &squawk {
                theirs.push(time(round, "squawk", statements, || run_squawk(squawk))?);
            }
        }
    }
    let ours = super::measure::median(ours);
    let per_second = |seconds: f64| statements as f64 / seconds;
    if theirs.is_empty() {
        println!(
            "median: cargo xtask lint {:.0} statements/s (no squawk to compare with)",
            per_second(ours)
        );
    } else {
        let theirs = super::measure::median(theirs);
        let ratio = theirs / ours;
        println!(
            "median: cargo xtask lint {:.0} statements/s, squawk {:.0} statements/s, ratio {ratio:.2}x (target >= 1.00x): {}",
            per_second(ours),
            per_second(theirs),
            if ratio >= 1.0 { "met" } else { "NOT MET" }
        );
    }
    accuracy(&xtask, squawk.as_deref())
}

/// Prints how well ours and squawk classify the labelled corpus.
fn accuracy(xtask: &Path, squawk: Option<&Path>) -> Result<()> {
    let cases = corpus::read(&project::root().join("xtask/tests/corpus"))?;
    let rules_alone = corpus::lint_each(xtask, &project::root(), &cases, None)?;
    println!(
        "ours, rules alone: {}",
        Score::of(cases.iter().zip(rules_alone))
    );
    // The verdict deploy-db acts on: the rules cross-checked with the trace.
    let server = crate::plumbing::target_database::server(None)?;
    let verdicts = corpus::lint_each(xtask, &project::root(), &cases, Some(&server))?;
    let ours = Score::of(cases.iter().zip(verdicts.iter().copied()));
    let unnamed = Score::of(
        cases
            .iter()
            .zip(verdicts.iter().copied())
            .filter(|(case, _)| !case.named),
    );
    println!("ours on forms no rule names: {unnamed}");
    let head = format!(
        "accuracy on {} corpus files ({} safe, {} risky): ours {ours}",
        ours.files(),
        ours.safe,
        ours.risky
    );
    let target = "target recall >= 95%, <= 1 false alarm per 15 safe";
    let verdict = |met: bool| if met { "met" } else { "not met" };
    match squawk {
        Some(squawk) => {
            let theirs = Score::of(cases.iter().zip(corpus::squawk_each(squawk, &cases)?));
            let met = ours.meets_target() && ours.better_than(&theirs);
            println!(
                "{head}; squawk {theirs}; {target}, better than squawk on both: {}",
                verdict(met)
            );
        }
        None => println!(
            "{head}; {target}: {} (no squawk to compare with)",
            verdict(ours.meets_target())
        ),
    }
    Ok(())
}

/// The xtask binary to time: this one when it is an optimised build, else the release build,
/// built now. squawk is an optimised build; timing a debug build against it would measure the
/// compiler settings rather than the linter.
fn optimised_xtask(sh: &Shell) -> Result<PathBuf> {
    let current = std::env::current_exe().context("locating the xtask binary")?;
    if !cfg!(debug_assertions) {
        return Ok(current);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("timing the release build of xtask: cargo build --release --package xtask");
    cmd!(sh, "{cargo} build --release --quiet --package xtask")
        .quiet()
        .run()
        .context("building the release binary of xtask")?;
    // target/debug/xtask -> target/release/xtask, in whichever target folder cargo uses.
    let release = current
        .parent()
        .and_then(Path::parent)
        .zip(current.file_name())
        .map(|(target, binary)| target.join("release").join(binary))
        .context("locating the target folder of the xtask binary")?;
    Ok(release)
}

/// Runs one linter once and prints its time; returns the seconds.
fn time(
    round: usize,
    linter: &str,
    statements: usize,
    run: impl FnOnce() -> Result<()>,
) -> Result<f64> {
    let started = Instant::now();
    run()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "round {round}: {linter:<17} {:>8.1} ms  {:>9.0} statements/s",
        seconds * 1e3,
        statements as f64 / seconds
    );
    Ok(seconds)
}

/// Migrations shaped like real ones, each statement kind a rule looks at: a new table with
/// defaults and constraints, an index, a column, seed rows, a comment, a NOT VALID foreign key;
/// the down file undoes them.
fn generate(dir: &Path, migrations: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for index in 1..=migrations {
        let table = format!("bench_{index}");
        let previous = format!("bench_{}", index.saturating_sub(1).max(1));
        let up = format!(
            "-- Purpose: benchmark step {index}\n-- Risk: low, a new table\n-- Rollback: drop it\n-- Performance: tiny\n\n\
             CREATE TABLE {table} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL,\n    \
             created_at timestamptz NOT NULL DEFAULT now(),\n    CONSTRAINT {table}_name_not_blank CHECK (btrim(name) <> '')\n);\n\
             CREATE INDEX {table}_name_idx ON {table} (name);\n\
             ALTER TABLE {table} ADD COLUMN note text DEFAULT '';\n\
             INSERT INTO {table} (name) SELECT 'row ' || g FROM generate_series(1, 20) AS g;\n\
             COMMENT ON TABLE {table} IS 'benchmark table {index}';\n\
             ALTER TABLE {previous} ADD CONSTRAINT {table}_fk FOREIGN KEY (id) REFERENCES {table} (id) NOT VALID;\n"
        );
        let down =
            format!("ALTER TABLE {previous} DROP CONSTRAINT {table}_fk;\nDROP TABLE {table};\n");
        let stem = format!("V{index:05}__bench_step_{index}");
        std::fs::write(dir.join(format!("{stem}.sql")), up)?;
        std::fs::write(dir.join(format!("{stem}.down.sql")), down)?;
    }
    Ok(())
}

/// `squawk` from PATH, else from a PyPI install under target/xtask (made once, then reused).
fn find_or_install_squawk(sh: &Shell) -> Result<PathBuf, String> {
    if cmd!(sh, "squawk --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok()
    {
        return Ok(PathBuf::from("squawk"));
    }
    let prefix = project::target_dir().join("squawk-cli");
    let squawk = prefix.join("bin").join("squawk");
    if !squawk.exists() {
        println!(
            "squawk is not on PATH: installing squawk-cli from PyPI into {}",
            prefix.display()
        );
        cmd!(
            sh,
            "python3 -m pip install --quiet --disable-pip-version-check --target {prefix} squawk-cli"
        )
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .quiet()
        .run()
        .map_err(|error| format!("pip install squawk-cli failed: {error}"))?;
    }
    let version = cmd!(sh, "{squawk} --version")
        .quiet()
        .read()
        .map_err(|error| format!("{} does not run: {error}", squawk.display()))?;
    println!("using {version} ({})", squawk.display());
    Ok(squawk)
}
