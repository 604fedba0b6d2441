//! The labelled corpus in xtask/tests/corpus: reading its labels, linting each file with
//! `cargo xtask lint` and with squawk, and scoring both against the labels. Used by the corpus
//! test (which includes this file by `#[path]`, so it uses nothing else of this crate) and by
//! `bench lint`.
//!
//! squawk counts a file risky when it reports any rule except these, which judge style or
//! settings rather than whether the migration can run beside the application:
//! - `prefer-robust-stmts`, `prefer-big-int`, `prefer-bigint-over-int`,
//!   `prefer-bigint-over-smallint`, `prefer-identity`, `prefer-text-field`, `prefer-timestamptz`,
//!   `ban-char-field`: how the SQL is written, not what it locks;
//! - `require-lock-timeout`, `require-statement-timeout` (once `require-timeout-settings`): the
//!   engine sets both timeouts for every migration itself;
//! - `transaction-nesting`, `ban-uncommitted-transaction`: transaction control, which the engine
//!   owns; a file using it is broken rather than risky.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use migrations::DatabaseUrl;

/// squawk rules that say nothing about safety (see the module documentation).
const SQUAWK_STYLE_RULES: &[&str] = &[
    "prefer-robust-stmts",
    "prefer-big-int",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "transaction-nesting",
    "ban-uncommitted-transaction",
];

/// The version each corpus file takes after the project's migrations.
const VERSION: &str = "V1000";

/// A migration's class, as the strategy names it and `cargo xtask lint` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Safe,
    Risky,
    MultiStep,
}

impl Class {
    fn parse(text: &str) -> Option<Class> {
        match text {
            "safe" => Some(Class::Safe),
            "risky" => Some(Class::Risky),
            "multi-step" => Some(Class::MultiStep),
            _ => None,
        }
    }

    /// Risky and multi-step both keep a migration out of an ordinary deploy.
    pub fn is_risky(self) -> bool {
        self != Class::Safe
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Safe => "safe",
            Class::Risky => "risky",
            Class::MultiStep => "multi-step",
        })
    }
}

/// One labelled migration of the corpus.
#[derive(Debug)]
pub struct Case {
    /// The file name without `.sql`, snake_case: also the migration's name.
    pub name: String,
    pub path: PathBuf,
    pub expect: Class,
    /// Whether a rule file names the form that decides the class.
    pub named: bool,
}

/// The corpus's files in name order, with their `-- expect:` and `-- form:` labels.
pub fn read(dir: &Path) -> Result<Vec<Case>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "sql") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.into_iter().map(|path| read_case(&path)).collect()
}

fn read_case(path: &Path) -> Result<Case> {
    let sql =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let label = |key: &str| {
        sql.lines()
            .find_map(|line| line.strip_prefix(key))
            .map(str::trim)
            .with_context(|| format!("{} has no `{key}` line", path.display()))
    };
    let expect = label("-- expect:")?;
    let Some(expect) = Class::parse(expect) else {
        bail!(
            "{}: `-- expect: {expect}` is not safe, risky or multi-step",
            path.display()
        );
    };
    let named = match label("-- form:")? {
        "named" => true,
        "unnamed" => false,
        other => bail!(
            "{}: `-- form: {other}` is not named or unnamed",
            path.display()
        ),
    };
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .context("a corpus file without a name")?;
    Ok(Case {
        name,
        path: path.to_path_buf(),
        expect,
        named,
    })
}

/// `xtask lint --dir FOLDER --format json EXTRA...` for each case, on a folder holding the
/// project's migrations, the case as `V1000__<name>.sql` and a harmless down file; returns each
/// up file's class. The runs are independent and share the cores.
/// Lints each case as this workspace's next migration: a copy of the workspace's migrations and
/// `.sqlx/` queries, with the case as `V1000`. With `trace`, each folder is also traced on a
/// scratch database of that server.
pub fn lint_each(
    xtask: &Path,
    workspace: &Path,
    cases: &[Case],
    trace: Option<&DatabaseUrl>,
) -> Result<Vec<Class>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(cases.len()));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(index) else { break };
                let result = lint_one(xtask, workspace, case, trace);
                results.lock().unwrap().push((index, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

fn lint_one(
    xtask: &Path,
    workspace: &Path,
    case: &Case,
    trace: Option<&DatabaseUrl>,
) -> Result<Class> {
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let folder = work.path().join("sql");
    copy_files(&workspace.join("migrations/sql"), &folder)?;
    copy_files(&workspace.join(".sqlx"), &work.path().join(".sqlx"))?;
    let up = format!("{VERSION}__{}.sql", case.name);
    std::fs::copy(&case.path, folder.join(&up))?;
    std::fs::write(
        folder.join(format!("{VERSION}__{}.down.sql", case.name)),
        "-- The corpus lints up files only; this pairs the up file.\nSELECT 1;\n",
    )?;
    let mut command = Command::new(xtask);
    command
        .arg("lint")
        .arg("--dir")
        .arg(&folder)
        .args(["--format", "json"])
        .env("NO_COLOR", "1");
    if let Some(server) = trace {
        command
            .arg("--trace")
            .env("DATABASE_URL", server.secret_conninfo());
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", xtask.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{}: lint printed no JSON: {}",
            case.name,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let risk = json["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|file| {
            file["path"]
                .as_str()
                .is_some_and(|path| path.ends_with(&up))
        })
        .and_then(|file| file["risk"].as_str())
        .with_context(|| format!("{}: no risk for {up} in the lint report", case.name))?;
    Class::parse(risk).with_context(|| format!("{}: unknown risk `{risk}`", case.name))
}

fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    Ok(())
}

/// squawk over all cases in one run (PostgreSQL 15, JSON reporter): each case is `Risky` when
/// squawk reports a safety rule on it, else `Safe`.
pub fn squawk_each(squawk: &Path, cases: &[Case]) -> Result<Vec<Class>> {
    // squawk exits non-zero when it reports anything; only its JSON matters.
    let output = Command::new(squawk)
        .args(["--reporter", "json", "--pg-version", "15"])
        .args(cases.iter().map(|case| &case.path))
        .output()
        .with_context(|| format!("running {}", squawk.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "squawk printed no JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let flagged: HashSet<&str> = json
        .as_array()
        .context("squawk's JSON report is not a list")?
        .iter()
        .filter(|violation| {
            violation["rule_name"]
                .as_str()
                .is_none_or(|rule| !SQUAWK_STYLE_RULES.contains(&rule))
        })
        .filter_map(|violation| violation["file"].as_str())
        .collect();
    Ok(cases
        .iter()
        .map(|case| {
            if flagged.contains(case.path.to_string_lossy().as_ref()) {
                Class::Risky
            } else {
                Class::Safe
            }
        })
        .collect())
}

/// How a linter's verdicts compare with the labels.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    pub safe: usize,
    pub risky: usize,
    /// Risky or multi-step files the linter did not call safe.
    pub caught: usize,
    /// Safe files the linter called risky or multi-step.
    pub false_alarms: usize,
    /// Files whose class the linter named exactly.
    pub exact: usize,
}

impl Score {
    /// Scores each case's label against the linter's verdict on it.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = (&'a Case, Class)>) -> Score {
        let mut score = Score {
            safe: 0,
            risky: 0,
            caught: 0,
            false_alarms: 0,
            exact: 0,
        };
        for (case, verdict) in verdicts {
            if case.expect.is_risky() {
                score.risky += 1;
                score.caught += usize::from(verdict.is_risky());
            } else {
                score.safe += 1;
                score.false_alarms += usize::from(verdict.is_risky());
            }
            score.exact += usize::from(verdict == case.expect);
        }
        score
    }

    pub fn files(&self) -> usize {
        self.safe + self.risky
    }

    /// Percent of the risky files caught.
    pub fn recall(&self) -> f64 {
        100.0 * self.caught as f64 / self.risky.max(1) as f64
    }

    pub fn false_alarms_per_15_safe(&self) -> f64 {
        15.0 * self.false_alarms as f64 / self.safe.max(1) as f64
    }

    /// The target: recall of at least 95%, at most one false alarm per 15 safe files.
    pub fn meets_target(&self) -> bool {
        self.recall() >= 95.0 && self.false_alarms * 15 <= self.safe
    }

    /// No worse than `other` on recall and false alarms, and better on one of them.
    pub fn better_than(&self, other: &Score) -> bool {
        let no_worse = self.caught >= other.caught && self.false_alarms <= other.false_alarms;
        no_worse && (self.caught > other.caught || self.false_alarms < other.false_alarms)
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recall {:.1}%, false alarms {} (per 15 safe: {:.1})",
            self.recall(),
            self.false_alarms,
            self.false_alarms_per_15_safe()
        )
    }
}
