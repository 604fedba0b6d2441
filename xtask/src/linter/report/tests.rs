//! The three report formats over a small in-memory set of findings.

use std::path::PathBuf;

use super::*;
use crate::linter::rule::Rule;

fn reports() -> Vec<FileReport> {
    let finding = |rule, acknowledged| Finding {
        acknowledged,
        ..Finding::at(
            rule,
            (6, 1),
            "dropping column `t.c` deletes its data".into(),
            "first stop using it\nthen drop it".into(),
        )
    };
    vec![
        FileReport {
            path: PathBuf::from("sql/V0001__a.sql"),
            version: Some(1),
            risk: Risk::Safe,
            findings: Vec::new(),
            trace: None,
        },
        FileReport {
            path: PathBuf::from("sql/V0002__b.sql"),
            version: Some(2),
            risk: Risk::Risky,
            findings: vec![
                finding(Rule::DropColumn, None),
                finding(
                    Rule::DropColumn,
                    Some(Acknowledgement::Allow {
                        line: 5,
                        reason: "unused since 42".into(),
                    }),
                ),
            ],
            trace: None,
        },
    ]
}

#[test]
fn text_lists_location_rule_message_help_and_a_summary() {
    let text = anstream::adapter::strip_str(&text(&reports())).to_string();
    assert_eq!(
        text,
        "sql/V0002__b.sql:6:1  drop-column  dropping column `t.c` deletes its data\n\
         \x20 help: first stop using it\n\
         \x20       then drop it\n\
         sql/V0002__b.sql:6:1  drop-column  dropping column `t.c` deletes its data\n\
         \x20 help: first stop using it\n\
         \x20       then drop it\n\
         \x20 acknowledged (line 5): unused since 42\n\
         2 files: 1 safe, 1 risky, 0 multi-step; 1 error, 0 warnings, 1 acknowledged\n\
         risky: V0002__b.sql\n"
    );
}

#[test]
fn json_has_the_documented_shape() {
    let json: serde_json::Value = serde_json::from_str(&json(&reports()).unwrap()).unwrap();
    let file = &json["files"][1];
    assert_eq!(file["path"], "sql/V0002__b.sql");
    assert_eq!(file["version"], 2);
    assert_eq!(file["risk"], "risky");
    let finding = &file["findings"][1];
    assert_eq!(finding["rule"], "drop-column");
    assert_eq!(finding["severity"], "error");
    assert_eq!(
        (finding["line"].clone(), finding["column"].clone()),
        (6.into(), 1.into())
    );
    assert_eq!(finding["acknowledged"], true);
    assert_eq!(finding["help"], "first stop using it\nthen drop it");
}

#[test]
fn github_writes_escaped_workflow_commands() {
    let out = github(&reports());
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("::error file=sql/V0002__b.sql,line=6,col=1,title=drop-column::dropping column `t.c` deletes its data%0Ahelp: first stop using it%0Athen drop it")
    );
    assert!(lines.next().unwrap().starts_with(
        "::notice file=sql/V0002__b.sql,line=6,col=1,title=drop-column (acknowledged)::"
    ));
}

/// Every way a finding is shown: unacknowledged, acknowledged by name or by a maintenance
/// window, confirmed or cleared by the trace, and found by the trace alone.
fn varied_reports() -> Vec<FileReport> {
    let mut reports = reports();
    let at = |rule, line, message: &str, help: &str| {
        Finding::at(rule, (line, 1), message.into(), help.into())
    };
    let confirmed = Finding {
        source: Source::Confirmed,
        ..at(
            Rule::CreateIndexWithoutConcurrently,
            5,
            "building index `tickets_due_idx` blocks writes to `tickets`",
            "CREATE INDEX CONCURRENTLY in its own no-transaction migration",
        )
    };
    let cleared = Finding {
        source: Source::ClearedByTrace,
        severity: Severity::Warning,
        ..at(
            Rule::UnbatchedDataMigration,
            7,
            "UPDATE of `tickets` in one transaction (cleared by the trace)",
            "batch it: `-- xtask: batched tickets id`",
        )
    };
    let traced = Finding {
        source: Source::Trace,
        acknowledged: Some(Acknowledgement::MaintenanceWindow),
        ..at(
            Rule::TracedBlockingWork,
            9,
            "PostgreSQL, running this statement, rewrote public.tickets",
            "use the form that avoids the work",
        )
    };
    reports.push(FileReport {
        path: PathBuf::from("sql/V0003__c.sql"),
        version: Some(3),
        risk: Risk::Risky,
        findings: vec![confirmed, cleared, traced],
        trace: None,
    });
    reports.push(FileReport {
        path: PathBuf::from("sql/V0004__d.sql"),
        version: Some(4),
        risk: Risk::MultiStep,
        findings: vec![at(
            Rule::RenameColumn,
            5,
            "renaming column `tickets.title` breaks the application version still running",
            "expand and contract:\n1. add the new column\n2. ...",
        )],
        trace: None,
    });
    reports
}

#[test]
fn text_report_snapshot() {
    let text = anstream::adapter::strip_str(&text(&varied_reports())).to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn github_report_snapshot() {
    insta::assert_snapshot!(github(&varied_reports()));
}

#[test]
fn json_report_snapshot() {
    insta::assert_snapshot!(json(&varied_reports()).unwrap());
}
