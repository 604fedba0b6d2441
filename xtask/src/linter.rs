//! `cargo xtask lint`: classifies every migration as the strategy does (safe, risky, multi-step),
//! catches unsafe operations and the engine's own rules, and says the safe way. Rules live one per
//! file in `linter/rules/`, registered in `linter/rule.rs`; this file collects files, runs the rules
//! with what each file needs to know, applies acknowledgements and decides the exit code.

pub(crate) mod application;
mod catalog;
mod context;
mod finding;
mod forms;
mod plpgsql;
mod report;
mod rule;
pub(crate) mod sql;
pub(crate) mod trace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use migrations::model::{parse_file_name, Direction};
use migrations::source::{self, Problem};
use migrations::trace::Settings as TraceSettings;
use migrations::{DatabaseUrl, Version};

use crate::exit::Exit;
use crate::flags::{LintArgs, LintFormat};
use crate::plumbing::project;
use application::Application;
use catalog::{Catalog, Changes};
use context::{Context, SourceFile};
use finding::{Acknowledgement, Finding};
pub use rule::Risk;
use rule::{Check, Class, Rule};
use sql::{Parsed, Statement};

/// One linted file and its verdict.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub version: Option<Version>,
    pub risk: Risk,
    pub findings: Vec<Finding>,
    /// What PostgreSQL did, statement by statement, when the file was traced.
    pub trace: Option<trace::FileTrace>,
}

pub fn run(args: &LintArgs) -> Result<()> {
    if let Some(name) = &args.explain {
        return explain(name);
    }
    let targets = targets(args)?;
    let reports = if args.trace {
        let server =
            crate::plumbing::target_database::server(args.scratch.database_url.as_deref())?;
        lint_paths(&targets, &|dir| {
            let (reports, unavailable) =
                lint_folder_traced(dir, &server, &TraceSettings::default(), |_| true);
            if let Some(trace::Unavailable(reason)) = unavailable {
                eprintln!(
                    "trace unavailable for {}, static verdict only: {reason}",
                    dir.display()
                );
            }
            reports
        })
    } else {
        lint_paths(&targets, &lint_folder)
    };
    match args.format {
        LintFormat::Text => anstream::print!("{}", report::text(&reports)),
        LintFormat::Json => println!("{}", report::json(&reports)?),
        LintFormat::Github => print!("{}", report::github(&reports)),
    }
    let blocking = count_blocking(&reports);
    if blocking > 0 {
        anyhow::bail!(
            "lint failed: {blocking} unacknowledged error{}",
            if blocking == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Lints and traces a migrations folder for `check-migrations`: the plain-text report and how
/// many of its findings block.
pub fn check_folder(dir: &Path, server: &DatabaseUrl) -> (String, usize) {
    let (reports, unavailable) =
        lint_folder_traced(dir, server, &TraceSettings::default(), |_| true);
    let mut text = anstream::adapter::strip_str(&report::text(&reports)).to_string();
    if let Some(trace::Unavailable(reason)) = unavailable {
        text.push_str(&format!(
            "trace unavailable, static verdict only: {reason}\n"
        ));
    }
    (text, count_blocking(&reports))
}

/// `deploy-db`'s view of one pending migration: its class, its findings as
/// `rule[ (acknowledged)] at line N`, and what the trace saw it do.
pub struct PendingVerdict {
    pub risk: Risk,
    pub findings: Vec<String>,
    pub trace: Option<trace::FileTrace>,
}

/// Lints the folder and traces the `pending` migrations on a scratch database of `server`,
/// after applying the ones before them, with enough generated rows per table for the trace's
/// time per row to mean something. The reason comes back when no trace could be made.
pub fn judge_pending(
    dir: &Path,
    pending: &[Version],
    server: &DatabaseUrl,
) -> (BTreeMap<Version, PendingVerdict>, Option<String>) {
    let settings = TraceSettings {
        rows_per_table: ESTIMATE_ROWS_PER_TABLE,
        freeze: true,
    };
    let (reports, unavailable) =
        lint_folder_traced(dir, server, &settings, |version| pending.contains(&version));
    let verdicts = reports
        .into_iter()
        .filter(|report| !report.path.to_string_lossy().ends_with(".down.sql"))
        .filter_map(|report| {
            let findings = report
                .findings
                .iter()
                .filter(|finding| finding.counts())
                .map(|finding| {
                    let acknowledged = if finding.acknowledged.is_some() {
                        " (acknowledged)"
                    } else {
                        ""
                    };
                    format!(
                        "{}{acknowledged} at line {}",
                        finding.rule.name(),
                        finding.line
                    )
                })
                .collect();
            let version = report.version.filter(|version| pending.contains(version))?;
            Some((
                version,
                PendingVerdict {
                    risk: report.risk,
                    findings,
                    trace: report.trace,
                },
            ))
        })
        .collect();
    (
        verdicts,
        unavailable.map(|trace::Unavailable(reason)| reason),
    )
}

/// Rows per table for a deploy's trace: enough that a rewrite's time is mostly per-row work, few
/// enough that generating them takes a second or two.
const ESTIMATE_ROWS_PER_TABLE: usize = 500;

fn count_blocking(reports: &[FileReport]) -> usize {
    reports
        .iter()
        .flat_map(|report| &report.findings)
        .filter(|finding| finding.is_blocking())
        .count()
}

fn explain(name: &str) -> Result<()> {
    let rule = Rule::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Rule::ALL.iter().map(|rule| rule.name()).collect();
        Exit::usage(format!(
            "unknown rule `{name}`; the rules are: {}",
            known.join(", ")
        ))
    })?;
    let class = match rule.class() {
        Class::Broken => "must be fixed, cannot be acknowledged",
        Class::Hygiene => "house rule, acknowledged with `allow`",
        Class::Risky => "makes the migration risky",
        Class::MultiStep => "makes the migration multi-step",
    };
    println!(
        "{} ({}, {class})\n\n{}",
        rule.name(),
        rule.severity(),
        rule.docs()
    );
    if rule == Rule::AlterTableForm {
        println!("\n{}", forms::describe_alter_table_forms());
    }
    Ok(())
}

/// What to lint: a migrations folder, or one file (linted with its folder when it is named as a
/// migration, so pairing, version and earlier-migration facts apply to it too).
enum Target {
    Folder(PathBuf),
    File(PathBuf),
}

fn targets(args: &LintArgs) -> Result<Vec<Target>> {
    if args.paths.is_empty() {
        let dir = project::migrations_dir(args.dir.as_deref());
        if !dir.is_dir() {
            return Err(Exit::usage(format!(
                "migrations folder {} does not exist",
                dir.display()
            )));
        }
        return Ok(vec![Target::Folder(dir)]);
    }
    args.paths
        .iter()
        .map(|path| {
            if path.is_dir() {
                Ok(Target::Folder(path.clone()))
            } else if path.is_file() {
                Ok(Target::File(path.clone()))
            } else {
                Err(Exit::usage(format!(
                    "{} is neither a file nor a folder",
                    path.display()
                )))
            }
        })
        .collect()
}

/// Lints the targets, each folder through `lint_folder` (static, or static and traced).
fn lint_paths(
    targets: &[Target],
    lint_folder: &dyn Fn(&Path) -> Vec<FileReport>,
) -> Vec<FileReport> {
    let mut reports = Vec::new();
    // Each folder is linted once, however many of its files were named.
    let mut folders: BTreeMap<PathBuf, Vec<FileReport>> = BTreeMap::new();
    for target in targets {
        match target {
            Target::Folder(dir) => reports.extend(lint_folder(dir)),
            Target::File(path) if is_migration_name(path) => {
                let dir = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let folder = folders
                    .entry(dir.clone())
                    .or_insert_with(|| lint_folder(&dir));
                // A file the engine does not see in its folder (a hidden one) is linted alone.
                let report = match folder
                    .iter()
                    .position(|report| same_file(&report.path, path))
                {
                    Some(index) => folder.swap_remove(index),
                    None => lint_single_file(path),
                };
                reports.push(report);
            }
            Target::File(path) => reports.push(lint_single_file(path)),
        }
    }
    reports
}

/// A file outside any migrations folder: its own SQL, directives and documentation only.
fn lint_single_file(path: &Path) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(sql) => {
            let file = SourceFile::new(path, sql);
            let findings = lint_standalone(&file);
            file_report(&file, findings)
        }
        Err(error) => problem_report(
            path,
            &[Problem::UnreadableFile {
                path: path.to_path_buf(),
                message: error.to_string(),
            }],
        ),
    }
}

fn is_migration_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| parse_file_name(&name.to_string_lossy()).is_ok())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Lints a migrations folder as the engine sees it: its problems, then every SQL file in version
/// order, each with the schema the earlier migrations built, each down file with its up file, and
/// all with the queries of the application the folder belongs to.
fn lint_folder(dir: &Path) -> Vec<FileReport> {
    lint_folder_for_trace(dir).reports
}

/// A linted folder, with what the trace needs to run its up files.
struct LintedFolder {
    reports: Vec<FileReport>,
    /// The folder as the engine loads it.
    set: source::MigrationSet,
    /// Each up file the engine loads and that parses: its report's index and its statements.
    plans: Vec<(usize, trace::Plan)>,
}

fn lint_folder_for_trace(dir: &Path) -> LintedFolder {
    let application = Application::find(dir);
    let loaded = source::read_dir(dir);
    let set = loaded.set.clone();
    let mut problems: BTreeMap<PathBuf, Vec<Problem>> = BTreeMap::new();
    for problem in loaded.problems {
        let path_problems = problems.entry(problem.path().to_path_buf()).or_default();
        match &problem {
            // Found again by `bad-directive` for every file, named as a migration or not; the
            // entry keeps the file, which the loader set aside, in the lint.
            Problem::BadComment { .. } => {}
            // A pair the loader broke up because the other file has a problem of its own.
            Problem::MissingDown { expected, .. } | Problem::DownWithoutUp { expected, .. }
                if expected.is_file() => {}
            _ => path_problems.push(problem),
        }
    }
    let mut sources: BTreeMap<PathBuf, String> = BTreeMap::new();
    for migration in loaded.set.migrations {
        for script in [migration.up, migration.down] {
            sources.insert(script.path, script.sql);
        }
    }
    let mut reports = Vec::new();
    // Files the loader set aside are linted too, when they are readable SQL.
    for (path, path_problems) in &problems {
        if sources.contains_key(path) {
            continue;
        }
        let unreadable = path_problems.iter().any(|problem| {
            matches!(
                problem,
                Problem::UnreadableFile { .. } | Problem::UnreadableDir { .. }
            )
        });
        let is_sql = path.extension().is_some_and(|extension| extension == "sql");
        match (is_sql && !unreadable)
            .then(|| std::fs::read_to_string(path).ok())
            .flatten()
        {
            Some(sql) => {
                sources.insert(path.clone(), sql);
            }
            None => reports.push(problem_report(path, path_problems)),
        }
    }

    let mut files: Vec<SourceFile> = sources
        .into_iter()
        .map(|(path, sql)| SourceFile::new(&path, sql))
        .collect();
    files.sort_by(|a, b| {
        let order = |file: &SourceFile| {
            (
                file.version.unwrap_or(Version::MAX),
                file.direction == Direction::Down,
            )
        };
        order(a).cmp(&order(b)).then_with(|| a.path.cmp(&b.path))
    });

    let mut catalog = Catalog::default();
    let mut plans = Vec::new();
    // The last up file, whose effect on the schema its down file starts from.
    let mut last_up: Option<(Option<Version>, Parsed)> = None;
    // Parsed a window at a time, so parse trees of a large folder are not all in memory at once.
    for window in files.chunks(PARSE_WINDOW) {
        for (file, parsed) in window.iter().zip(parse_all(window)) {
            let mut findings = problems
                .get(&file.path)
                .map(|problems| problem_findings(problems))
                .unwrap_or_default();
            match file.direction {
                Direction::Up => {
                    let (file_findings, changes) =
                        lint_file(file, &parsed, &catalog, application.as_ref(), &[]);
                    catalog.merge(changes);
                    findings.extend(file_findings);
                    let loaded = |version: &Version| {
                        set.migrations.iter().any(|migration| {
                            migration.version == *version && migration.up.path == file.path
                        })
                    };
                    if let (Some(version), true) = (file.version, parsed.syntax_errors.is_empty()) {
                        if loaded(&version) {
                            let lines = context::LineIndex::new(&file.sql);
                            let plan = trace::plan(
                                version,
                                &file.sql,
                                &parsed,
                                &file.directives,
                                |offset| lines.position(&file.sql, offset),
                            );
                            plans.push((reports.len(), plan));
                        }
                    }
                    last_up = Some((file.version, parsed));
                }
                Direction::Down => {
                    let up = match &last_up {
                        Some((version, up)) if *version == file.version => up.statements.as_slice(),
                        _ => &[],
                    };
                    findings.extend(lint_file(file, &parsed, &catalog, application.as_ref(), up).0);
                }
            }
            reports.push(file_report(file, findings));
        }
    }
    LintedFolder {
        reports,
        set,
        plans,
    }
}

/// Lints a folder and traces its up files on a scratch database of `server`. Without a trace
/// (no scratch database allowed, server down or too old) the static reports come back with the
/// reason.
fn lint_folder_traced(
    dir: &Path,
    server: &DatabaseUrl,
    settings: &TraceSettings,
    traced: impl Fn(Version) -> bool,
) -> (Vec<FileReport>, Option<trace::Unavailable>) {
    let LintedFolder {
        mut reports,
        set,
        mut plans,
    } = lint_folder_for_trace(dir);
    plans.retain(|(_, plan)| traced(plan.version));
    let only_plans: Vec<trace::Plan> = plans.iter().map(|(_, plan)| plan.clone()).collect();
    match trace::run(server, &set, &only_plans, settings) {
        Ok(traces) => {
            for (index, plan) in &plans {
                if let Some(script_trace) = traces.get(&plan.version) {
                    let report = &mut reports[*index];
                    trace::cross_check(&mut report.findings, plan, script_trace);
                    report.trace = Some(trace::file_trace(plan, script_trace));
                    let findings = std::mem::take(&mut report.findings);
                    let traced = report.trace.take();
                    *report = report_of(report.path.clone(), report.version, findings);
                    report.trace = traced;
                }
            }
            (reports, None)
        }
        Err(unavailable) => (reports, Some(unavailable)),
    }
}

/// Files parsed together, in parallel, before their rules run in order.
const PARSE_WINDOW: usize = 64;

/// Parses every file, on every core: parsing is most of the work, and files are independent
/// (the rules, which depend on earlier files, run in order afterwards).
fn parse_all(files: &[SourceFile]) -> Vec<Parsed> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk_size = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parsers: Vec<_> = files
            .chunks(chunk_size)
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .map(|file| sql::parse(&file.sql))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parsers
            .into_iter()
            .flat_map(|parser| {
                parser
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Lints one file on its own: no folder, no earlier migrations, no application.
pub(crate) fn lint_standalone(file: &SourceFile) -> Vec<Finding> {
    lint_file(file, &sql::parse(&file.sql), &Catalog::default(), None, &[]).0
}

/// Runs every rule over one file, starting from the schema in `catalog`. For a down file, `up`
/// holds its up file's statements (already in `catalog`): what they created counts as this
/// migration's own, so dropping it is the expected rollback. Returns the acknowledged findings
/// and what the file changed in the schema.
fn lint_file(
    file: &SourceFile,
    parsed: &Parsed,
    catalog: &Catalog,
    application: Option<&Application>,
    up: &[Statement],
) -> (Vec<Finding>, Changes) {
    let mut context = Context::new(file, parsed, catalog, application);
    for statement in up {
        context.adopt(statement);
    }
    let mut findings = Vec::new();
    for (index, statement) in parsed.statements.iter().enumerate() {
        findings.extend(
            check_statement(statement, &mut context, Rule::ALL)
                .into_iter()
                .map(|finding| Finding {
                    statement: Some(index),
                    ..finding
                }),
        );
    }
    for rule in Rule::ALL {
        if let Check::File(check) = rule.check() {
            findings.extend(check(&context));
        }
    }
    acknowledge(&mut findings, &context);
    (findings, context.into_changes())
}

/// Checks a top-level statement with the statement rules in `rules`, then what it runs (a DO
/// block's body, the bodies of this file's functions it calls), each statement recorded in
/// `context` once checked so the next one sees what it did. Every finding returned is the top-level
/// statement's doing.
fn check_statement(statement: &Statement, context: &mut Context, rules: &[Rule]) -> Vec<Finding> {
    let mut findings = Vec::new();
    check_running(statement, context, rules, &mut Vec::new(), &mut findings);
    // A function called twice by one statement, or calling itself, is reported once.
    let mut unique: Vec<Finding> = Vec::with_capacity(findings.len());
    for finding in findings {
        if !unique.contains(&finding) {
            unique.push(finding);
        }
    }
    unique
}

/// `running` holds the bodies being run (by their start), so a recursive call ends the descent.
fn check_running(
    statement: &Statement,
    context: &mut Context,
    rules: &[Rule],
    running: &mut Vec<usize>,
    findings: &mut Vec<Finding>,
) {
    for rule in rules {
        if let Check::Statement(check) = rule.check() {
            findings.extend(check(statement, context));
        }
    }
    context.advance(statement);
    let parsed = context.parsed;
    for body in plpgsql::run_by(parsed, statement) {
        if running.contains(&body.start) {
            continue;
        }
        running.push(body.start);
        // A body that commits, run outside a transaction, is the strategy's batched data
        // migration written by hand: its changes commit a stretch at a time.
        let batched = context.in_batches;
        context.in_batches |= body.commits && context.no_transaction();
        for embedded in &body.statements {
            check_running(embedded, context, rules, running, findings);
        }
        context.in_batches = batched;
        running.pop();
    }
}

/// Marks the findings the file's directives acknowledge, and reports directives that
/// acknowledge nothing.
fn acknowledge(findings: &mut Vec<Finding>, context: &Context) {
    let directives = &context.file.directives;
    let mut used = vec![false; directives.allows.len()];
    for finding in findings.iter_mut() {
        let class = finding.rule.class();
        if class == Class::Broken {
            continue;
        }
        let allow = directives
            .allows
            .iter()
            .position(|allow| allow.rule == finding.rule.name());
        if let Some(index) = allow {
            used[index] = true;
            let allow = &directives.allows[index];
            finding.acknowledged = Some(Acknowledgement::Allow {
                line: allow.line,
                reason: allow.reason.clone(),
            });
        } else if directives.maintenance_window && matches!(class, Class::Risky | Class::MultiStep)
        {
            finding.acknowledged = Some(Acknowledgement::MaintenanceWindow);
        }
    }
    for (allow, used) in directives.allows.iter().zip(used) {
        let acknowledgeable =
            Rule::from_name(&allow.rule).is_some_and(|rule| rule.class() != Class::Broken);
        if !used && acknowledgeable {
            findings.push(context.finding_on_line(
                Rule::UnusedAllow,
                allow.line,
                format!("`allow {}` acknowledges nothing in this file", allow.rule),
                "remove the directive, or name the rule a finding here reports".into(),
            ));
        }
    }
}

fn problem_findings(problems: &[Problem]) -> Vec<Finding> {
    problems
        .iter()
        .flat_map(|problem| {
            Rule::ALL.iter().filter_map(move |rule| match rule.check() {
                Check::Problem(check) => check(problem),
                _ => None,
            })
        })
        .collect()
}

/// A file only the engine's problems speak about (not SQL, or unreadable).
fn problem_report(path: &Path, problems: &[Problem]) -> FileReport {
    let version = path
        .file_name()
        .and_then(|name| parse_file_name(&name.to_string_lossy()).ok())
        .map(|name| name.version);
    report_of(path.to_path_buf(), version, problem_findings(problems))
}

fn file_report(file: &SourceFile, findings: Vec<Finding>) -> FileReport {
    report_of(file.path.clone(), file.version, findings)
}

/// The file's risk is the highest class among its findings, acknowledged or not: an
/// acknowledgement records a decision, it does not make the change safer.
fn report_of(path: PathBuf, version: Option<Version>, mut findings: Vec<Finding>) -> FileReport {
    findings.sort_by_key(|finding| (finding.line, finding.column));
    let risk = findings
        .iter()
        .filter(|finding| finding.counts())
        .map(|finding| finding.rule.class().risk())
        .max()
        .unwrap_or(Risk::Safe);
    FileReport {
        path,
        version,
        risk,
        findings,
        trace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_problem_becomes_a_finding() {
        let path = PathBuf::from("V0001__a.sql");
        let problems = [
            Problem::UnreadableDir {
                dir: path.clone(),
                message: "x".into(),
            },
            Problem::BadFileName {
                path: path.clone(),
                reason: "x".into(),
            },
            Problem::UnreadableFile {
                path: path.clone(),
                message: "x".into(),
            },
            Problem::DuplicateVersion {
                version: 1,
                first: path.clone(),
                path: path.clone(),
            },
            Problem::MissingDown {
                path: path.clone(),
                expected: path.clone(),
            },
            Problem::DownWithoutUp {
                path: path.clone(),
                expected: path.clone(),
            },
        ];
        for problem in &problems {
            assert_eq!(
                problem_findings(std::slice::from_ref(problem)).len(),
                1,
                "{problem:?}"
            );
        }
    }

    #[test]
    fn acknowledgements_keep_severity_and_risk() {
        let sql = "-- Purpose: a\n-- Risk: b\n-- Rollback: c\n-- Performance: d\n\
                   -- xtask: maintenance-window\nALTER TABLE t RENAME COLUMN a TO b;\nTRUNCATE t;\n";
        let file = SourceFile::new(Path::new("V0001__a.sql"), sql.into());
        let report = file_report(&file, lint_standalone(&file));
        assert_eq!(report.risk, Risk::MultiStep);
        assert_eq!(report.findings.len(), 2);
        for finding in &report.findings {
            assert_eq!(finding.severity, finding::Severity::Error);
            assert_eq!(
                finding.acknowledged,
                Some(Acknowledgement::MaintenanceWindow)
            );
            assert!(!finding.is_blocking());
        }
    }
}
