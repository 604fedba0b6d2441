//! Runs the rules over one file: each statement, then what it runs (DO blocks, called
//! functions), then the file rules; applies the file's acknowledgements and makes its report.

use std::path::{Path, PathBuf};

use migrations::model::parse_file_name;
use migrations::source::Problem;
use migrations::Version;

use super::application::Application;
use super::catalog::{Catalog, Changes};
use super::context::{Context, SourceFile};
use super::file_report::FileReport;
use super::finding::{Acknowledgement, Finding};
use super::rule::{Check, Class, Risk, Rule};
use super::sql::{self, Parsed, Statement};

/// Lints one file on its own: no folder, no earlier migrations, no application.
pub fn lint_standalone(file: &SourceFile) -> Vec<Finding> {
    lint_file(file, &sql::parse(&file.sql), &Catalog::default(), None, &[]).0
}

/// Runs every rule over one file, starting from the schema in `catalog`. For a down file, `up`
/// holds its up file's statements (already in `catalog`): what they created counts as this
/// migration's own, so dropping it is the expected rollback. Returns the acknowledged findings
/// and what the file changed in the schema.
pub fn lint_file(
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
pub fn check_statement(
    statement: &Statement,
    context: &mut Context,
    rules: &[Rule],
) -> Vec<Finding> {
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
    for body in parsed.bodies_run_by(statement) {
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

pub fn problem_findings(problems: &[Problem]) -> Vec<Finding> {
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
pub fn problem_report(path: &Path, problems: &[Problem]) -> FileReport {
    let version = path
        .file_name()
        .and_then(|name| parse_file_name(&name.to_string_lossy()).ok())
        .map(|name| name.version);
    report_of(path.to_path_buf(), version, problem_findings(problems))
}

pub fn file_report(file: &SourceFile, findings: Vec<Finding>) -> FileReport {
    report_of(file.path.clone(), file.version, findings)
}

/// The file's risk is the highest class among its findings, acknowledged or not: an
/// acknowledgement records a decision, it does not make the change safer.
pub fn report_of(
    path: PathBuf,
    version: Option<Version>,
    mut findings: Vec<Finding>,
) -> FileReport {
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
    use super::super::finding;
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
