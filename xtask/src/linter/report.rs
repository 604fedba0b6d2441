//! The three output formats. They only format findings; deciding anything is the runner's job.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use super::file_report::FileReport;
use super::finding::{Acknowledgement, Finding, Severity, Source};
use super::rule::Risk;
use super::trace::{FileTrace, TracedStatement};

const LOCATION: Style = Style::new().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const ACKNOWLEDGED: Style = AnsiColor::Green.on_default();
const HELP: Style = AnsiColor::Cyan.on_default().bold();

/// `file:line:col  rule  message`, a `help:` block and the acknowledgement, then a summary line
/// with the count of files per class. Styled with ANSI codes, which `anstream` strips when the
/// output is not a terminal.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        for finding in &report.findings {
            let rule_style = match (&finding.acknowledged, finding.severity) {
                (Some(_), _) => ACKNOWLEDGED,
                (None, Severity::Error) => ERROR,
                (None, Severity::Warning) => WARNING,
            };
            let source = match finding.source {
                Source::Static => "",
                Source::Confirmed => " (confirmed by the trace)",
                Source::Trace => " (trace only)",
                Source::ClearedByTrace => " (cleared by the trace)",
            };
            let _ = writeln!(
                out,
                "{LOCATION}{}:{}:{}{LOCATION:#}  {rule_style}{}{rule_style:#}{source}  {}",
                report.path.display(),
                finding.line,
                finding.column,
                finding.rule,
                finding.message
            );
            let help = finding.help.replace('\n', "\n        ");
            let _ = writeln!(out, "  {HELP}help:{HELP:#} {help}");
            match &finding.acknowledged {
                Some(Acknowledgement::Allow { line, reason }) => {
                    let _ = writeln!(
                        out,
                        "  {ACKNOWLEDGED}acknowledged{ACKNOWLEDGED:#} (line {line}): {reason}"
                    );
                }
                Some(Acknowledgement::MaintenanceWindow) => {
                    let _ = writeln!(
                        out,
                        "  {ACKNOWLEDGED}acknowledged{ACKNOWLEDGED:#}: runs in a maintenance window"
                    );
                }
                None if finding.severity == Severity::Warning => {
                    let _ = writeln!(out, "  {WARNING}warning{WARNING:#}: does not fail the lint");
                }
                None => {}
            }
        }
    }
    for report in reports {
        if let Some(trace) = &report.trace {
            trace_text(&mut out, &report.path.display().to_string(), trace);
        }
    }
    out.push_str(&summary(reports));
    out
}

/// One line per traced statement that locked or changed something that existed before the
/// migration: `file:line:col  trace  <lock> on <table> (blocks ...); rewrote ...; N rows; ms`.
fn trace_text(out: &mut String, path: &str, trace: &FileTrace) {
    for statement in &trace.statements {
        let Some(observed) = &statement.trace else {
            continue;
        };
        let did_work = !observed.rewritten.is_empty()
            || !observed.built.is_empty()
            || !observed.scanned.is_empty()
            || observed.rows() > 0;
        let new_lock = observed
            .strongest_lock()
            .filter(|lock| lock.new && lock.mode.blocks().reads);
        // A brief lock that lets reads go on, taken for a catalog change, is the normal case:
        // only the rest is worth a line.
        if !did_work && new_lock.is_none() {
            continue;
        }
        let mut parts = Vec::new();
        if let Some(lock) = new_lock.or_else(|| observed.strongest_lock()) {
            let since = if lock.new {
                ""
            } else {
                ", held since an earlier statement"
            };
            parts.push(format!(
                "{} on {} (blocks {}{since})",
                lock.mode,
                lock.table,
                lock.mode.blocks().describe()
            ));
        } else if observed.concurrently {
            parts.push("ran alone, CONCURRENTLY".to_owned());
        } else if observed.ran_alone {
            parts.push("ran outside a transaction".to_owned());
        }
        if !observed.rewritten.is_empty() {
            parts.push(format!("rewrote {}", observed.rewritten.join(", ")));
        }
        if !observed.built.is_empty() {
            let built: Vec<String> = observed
                .built
                .iter()
                .map(|(index, table)| format!("{index} on {table}"))
                .collect();
            parts.push(format!("built {}", built.join(", ")));
        }
        if !observed.scanned.is_empty() {
            parts.push(format!("read all of {}", observed.scanned.join(", ")));
        }
        if observed.rows() > 0 {
            parts.push(format!("{} rows changed", observed.rows()));
        }
        parts.push(format!(
            "{:.1} ms",
            observed.duration.as_secs_f64() * 1000.0
        ));
        let _ = writeln!(
            out,
            "{LOCATION}{path}:{}:{}{LOCATION:#}  {HELP}trace{HELP:#}  {}",
            statement.line,
            statement.column,
            parts.join("; ")
        );
    }
    if let Some(failure) = &trace.failure {
        let _ = writeln!(
            out,
            "{LOCATION}{path}{LOCATION:#}  {WARNING}trace{WARNING:#}  PostgreSQL refused the statement at {failure}; the statements after it were not traced"
        );
    }
}

fn summary(reports: &[FileReport]) -> String {
    let files = |risk: Risk| reports.iter().filter(move |report| report.risk == risk);
    let classes: Vec<String> = Risk::ALL
        .iter()
        .map(|&risk| format!("{} {risk}", files(risk).count()))
        .collect();
    let findings: Vec<&Finding> = reports.iter().flat_map(|report| &report.findings).collect();
    let count =
        |keep: fn(&Finding) -> bool| findings.iter().filter(|finding| keep(finding)).count();
    let errors = count(Finding::is_blocking);
    let warnings =
        count(|finding| finding.severity == Severity::Warning && finding.acknowledged.is_none());
    let acknowledged = count(|finding| finding.acknowledged.is_some());
    let mut line = format!(
        "{} file{}: {}; {errors} error{}, {warnings} warning{}, {acknowledged} acknowledged\n",
        reports.len(),
        plural(reports.len()),
        classes.join(", "),
        plural(errors),
        plural(warnings),
    );
    for risk in [Risk::Risky, Risk::MultiStep] {
        let names: Vec<String> = files(risk)
            .map(|report| {
                report.path.file_name().map_or_else(
                    || report.path.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                )
            })
            .collect();
        if !names.is_empty() {
            let _ = writeln!(line, "{risk}: {}", names.join(", "));
        }
    }
    line
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    files: Vec<JsonFile<'a>>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: String,
    version: Option<i32>,
    risk: Risk,
    findings: Vec<JsonFinding<'a>>,
    /// `null` when the file was not traced.
    trace: Option<JsonTrace<'a>>,
}

#[derive(Serialize)]
struct JsonTrace<'a> {
    failure: Option<&'a str>,
    warnings: &'a [String],
    statements: Vec<JsonStatement<'a>>,
}

#[derive(Serialize)]
struct JsonStatement<'a> {
    line: usize,
    column: usize,
    sql: &'a str,
    /// `false` when an earlier statement failed and this one never ran.
    ran: bool,
    ran_alone: bool,
    locks: Vec<JsonLock<'a>>,
    rewrites: Vec<&'a str>,
    built: Vec<JsonBuilt<'a>>,
    scans: Vec<&'a str>,
    /// Rows read per pre-existing table, and the rows it held before the migration.
    reads: Vec<JsonRead<'a>>,
    rows: u64,
    ms: f64,
}

#[derive(Serialize)]
struct JsonRead<'a> {
    table: &'a str,
    rows_read: u64,
    table_rows: u64,
}

#[derive(Serialize)]
struct JsonLock<'a> {
    table: &'a str,
    index: Option<&'a str>,
    mode: &'static str,
    blocks: Vec<&'static str>,
    new: bool,
}

#[derive(Serialize)]
struct JsonBuilt<'a> {
    index: &'a str,
    table: &'a str,
}

fn json_trace(trace: &FileTrace) -> JsonTrace<'_> {
    JsonTrace {
        failure: trace.failure.as_deref(),
        warnings: &trace.warnings,
        statements: trace.statements.iter().map(json_statement).collect(),
    }
}

fn json_statement(statement: &TracedStatement) -> JsonStatement<'_> {
    let observed = statement.trace.as_ref();
    JsonStatement {
        line: statement.line,
        column: statement.column,
        sql: &statement.head,
        ran: observed.is_some(),
        ran_alone: observed.is_some_and(|observed| observed.ran_alone),
        locks: observed
            .iter()
            .flat_map(|observed| &observed.locks)
            .map(|lock| {
                let blocks = lock.mode.blocks();
                JsonLock {
                    table: &lock.table,
                    index: lock.index.as_deref(),
                    mode: lock.mode.as_str(),
                    blocks: [
                        (blocks.reads, "reads"),
                        (blocks.writes, "writes"),
                        (blocks.ddl, "ddl"),
                    ]
                    .into_iter()
                    .filter_map(|(on, name)| on.then_some(name))
                    .collect(),
                    new: lock.new,
                }
            })
            .collect(),
        rewrites: observed
            .iter()
            .flat_map(|observed| &observed.rewritten)
            .map(String::as_str)
            .collect(),
        built: observed
            .iter()
            .flat_map(|observed| &observed.built)
            .map(|(index, table)| JsonBuilt { index, table })
            .collect(),
        scans: observed
            .iter()
            .flat_map(|observed| &observed.scanned)
            .map(String::as_str)
            .collect(),
        reads: observed
            .iter()
            .flat_map(|observed| {
                observed.rows_read.iter().map(|(table, read)| JsonRead {
                    table,
                    rows_read: *read,
                    table_rows: observed.table_rows.get(table).copied().unwrap_or(0),
                })
            })
            .collect(),
        rows: observed.map_or(0, |observed| observed.rows()),
        ms: observed.map_or(0.0, |observed| observed.duration.as_secs_f64() * 1000.0),
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'static str,
    severity: Severity,
    line: usize,
    column: usize,
    message: &'a str,
    help: &'a str,
    acknowledged: bool,
    source: Source,
}

/// `{"files": [{"path", "version", "risk", "findings": [...]}]}`, the documented stable shape.
pub fn json(reports: &[FileReport]) -> serde_json::Result<String> {
    let files = reports
        .iter()
        .map(|report| JsonFile {
            path: report.path.display().to_string(),
            version: report.version,
            risk: report.risk,
            findings: report
                .findings
                .iter()
                .map(|finding| JsonFinding {
                    rule: finding.rule.name(),
                    severity: finding.severity,
                    line: finding.line,
                    column: finding.column,
                    message: &finding.message,
                    help: &finding.help,
                    acknowledged: finding.acknowledged.is_some(),
                    source: finding.source,
                })
                .collect(),
            trace: report.trace.as_ref().map(json_trace),
        })
        .collect();
    serde_json::to_string_pretty(&JsonReport { files })
}

/// GitHub Actions workflow commands: one annotation per finding, then the summary.
pub fn github(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let path = escape_property(&report.path.display().to_string());
        for finding in &report.findings {
            let (command, title) = match (&finding.acknowledged, finding.severity) {
                (Some(_), _) => ("notice", format!("{} (acknowledged)", finding.rule)),
                (None, Severity::Error) => ("error", finding.rule.to_string()),
                (None, Severity::Warning) => ("warning", finding.rule.to_string()),
            };
            let _ = writeln!(
                out,
                "::{command} file={path},line={},col={},title={}::{}",
                finding.line,
                finding.column,
                escape_property(&title),
                escape_data(&format!("{}\nhelp: {}", finding.message, finding.help))
            );
        }
    }
    out.push_str(&summary(reports));
    out
}

/// Workflow command data: `%`, CR and LF are encoded.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command properties: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests;
