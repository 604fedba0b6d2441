//! A migrations folder linted as the engine sees it: the loader's problems, then every SQL file in
//! version order with the schema the earlier ones built, and, for `--trace`, each up file's
//! statements run on a scratch database and compared with the findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use migrations::model::Direction;
use migrations::source::{self, MigrationSet, Problem};
use migrations::trace::Settings as TraceSettings;
use migrations::{DatabaseUrl, Version};

use super::application::Application;
use super::catalog::Catalog;
use super::context::{self, SourceFile};
use super::file_report::FileReport;
use super::runner::{self, file_report, problem_report, report_of};
use super::sql::{self, Parsed};
use super::trace;

/// Lints a migrations folder as the engine sees it: its problems, then every SQL file in version
/// order, each with the schema the earlier migrations built, each down file with its up file, and
/// all with the queries of the application the folder belongs to.
pub fn lint_folder(dir: &Path) -> Vec<FileReport> {
    lint_folder_for_trace(dir).reports
}

/// Lints a folder and traces its up files on a scratch database of `server`. Without a trace
/// (no scratch database allowed, server down or too old) the static reports come back with the
/// reason.
pub fn lint_folder_traced(
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
                    let findings = std::mem::take(&mut report.findings);
                    *report = report_of(report.path.clone(), report.version, findings);
                    report.trace = Some(trace::file_trace(plan, script_trace));
                }
            }
            (reports, None)
        }
        Err(unavailable) => (reports, Some(unavailable)),
    }
}

/// A linted folder, with what the trace needs to run its up files.
struct LintedFolder {
    reports: Vec<FileReport>,
    /// The folder as the engine loads it.
    set: MigrationSet,
    /// Each up file the engine loads and that parses: its report's index and its statements.
    plans: Vec<(usize, trace::Plan)>,
}

fn lint_folder_for_trace(dir: &Path) -> LintedFolder {
    let application = Application::find(dir);
    let loaded = source::read_dir(dir);
    let problems = problems_by_path(loaded.problems);
    let mut sources: BTreeMap<PathBuf, String> = BTreeMap::new();
    for migration in &loaded.set.migrations {
        for script in [&migration.up, &migration.down] {
            sources.insert(script.path.clone(), script.sql.clone());
        }
    }
    let mut linter = FolderLinter {
        set: &loaded.set,
        application: application.as_ref(),
        problems: &problems,
        catalog: Catalog::default(),
        last_up: None,
        reports: Vec::new(),
        plans: Vec::new(),
    };
    linter.add_set_aside_files(&mut sources);
    let files = in_lint_order(sources);
    // Parsed a window at a time, so parse trees of a large folder are not all in memory at once.
    for window in files.chunks(PARSE_WINDOW) {
        for (file, parsed) in window.iter().zip(parse_all(window)) {
            linter.lint(file, parsed);
        }
    }
    let (reports, plans) = (linter.reports, linter.plans);
    LintedFolder {
        reports,
        set: loaded.set,
        plans,
    }
}

/// The loader's problems by file, without those the lint finds again or that only echo another
/// file's problem.
fn problems_by_path(loaded: Vec<Problem>) -> BTreeMap<PathBuf, Vec<Problem>> {
    let mut problems: BTreeMap<PathBuf, Vec<Problem>> = BTreeMap::new();
    for problem in loaded {
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
    problems
}

/// Up files first, in version order, each followed by its down file; unnamed files last.
fn in_lint_order(sources: BTreeMap<PathBuf, String>) -> Vec<SourceFile> {
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
    files
}

/// The state carried from one file of a folder to the next.
struct FolderLinter<'a> {
    set: &'a MigrationSet,
    application: Option<&'a Application>,
    problems: &'a BTreeMap<PathBuf, Vec<Problem>>,
    /// The schema the files linted so far built.
    catalog: Catalog,
    /// The last up file, whose effect on the schema its down file starts from.
    last_up: Option<(Option<Version>, Parsed)>,
    reports: Vec<FileReport>,
    plans: Vec<(usize, trace::Plan)>,
}

impl FolderLinter<'_> {
    /// Files the loader set aside are linted too, when they are readable SQL; the others are
    /// reported with their problems alone.
    fn add_set_aside_files(&mut self, sources: &mut BTreeMap<PathBuf, String>) {
        for (path, path_problems) in self.problems {
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
                None => self.reports.push(problem_report(path, path_problems)),
            }
        }
    }

    fn lint(&mut self, file: &SourceFile, parsed: Parsed) {
        let mut findings = self
            .problems
            .get(&file.path)
            .map(|problems| runner::problem_findings(problems))
            .unwrap_or_default();
        match file.direction {
            Direction::Up => {
                let (file_findings, changes) =
                    runner::lint_file(file, &parsed, &self.catalog, self.application, &[]);
                self.catalog.merge(changes);
                findings.extend(file_findings);
                self.plan_trace(file, &parsed);
                self.last_up = Some((file.version, parsed));
            }
            Direction::Down => {
                let up = match &self.last_up {
                    Some((version, up)) if *version == file.version => up.statements.as_slice(),
                    _ => &[],
                };
                let (file_findings, _) =
                    runner::lint_file(file, &parsed, &self.catalog, self.application, up);
                findings.extend(file_findings);
            }
        }
        self.reports.push(file_report(file, findings));
    }

    /// Records what the trace runs of an up file the engine loads and that parses; its report is
    /// the next one.
    fn plan_trace(&mut self, file: &SourceFile, parsed: &Parsed) {
        let (Some(version), true) = (file.version, parsed.syntax_errors.is_empty()) else {
            return;
        };
        let loaded = self
            .set
            .migrations
            .iter()
            .any(|migration| migration.version == version && migration.up.path == file.path);
        if !loaded {
            return;
        }
        let lines = context::LineIndex::new(&file.sql);
        let plan = trace::plan(version, &file.sql, parsed, &file.directives, |offset| {
            lines.position(&file.sql, offset)
        });
        self.plans.push((self.reports.len(), plan));
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
