//! `cargo xtask lint` as a user runs it: the built binary on temporary migrations folders.

use std::path::Path;
use std::process::{Command, Output};

const DOCUMENTED: &str =
    "-- Purpose: a change\n-- Risk: described\n-- Rollback: the down file\n-- Performance: small\n";

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run xtask")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A migrations folder with one migration whose up file is `up` (after its documentation).
fn folder(up: &str, down: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let create = format!(
        "{DOCUMENTED}CREATE TABLE tickets (id bigint PRIMARY KEY, title text NOT NULL, legacy text);\n"
    );
    write(dir.path(), "V0001__create_tickets.sql", &create);
    write(
        dir.path(),
        "V0001__create_tickets.down.sql",
        "DROP TABLE tickets;\n",
    );
    write(
        dir.path(),
        "V0002__change.sql",
        &format!("{DOCUMENTED}{up}"),
    );
    write(dir.path(), "V0002__change.down.sql", down);
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn lint_json(dir: &Path) -> (Output, serde_json::Value) {
    let output = xtask(&["lint", "--format", "json", dir.to_str().unwrap()]);
    let json = serde_json::from_slice(&output.stdout).expect("lint --format json prints JSON");
    (output, json)
}

fn file<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {json:#}"))
}

#[test]
fn the_project_migrations_pass() {
    let output = xtask(&["lint"]);
    assert!(output.status.success(), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("; 0 errors"), "{text}");
}

#[test]
fn a_safe_migration_exits_0() {
    let dir = folder(
        "ALTER TABLE tickets ADD COLUMN due date;\nCOMMENT ON COLUMN tickets.due IS 'when';\n",
        "ALTER TABLE tickets DROP COLUMN due;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(file(&json, "V0002__change.sql")["risk"], "safe");
    assert_eq!(
        file(&json, "V0002__change.down.sql")["findings"],
        serde_json::json!([])
    );
}

#[test]
fn json_classifies_each_file_and_describes_each_finding() {
    let dir = folder(
        "ALTER TABLE tickets RENAME COLUMN title TO subject;\n",
        "ALTER TABLE tickets RENAME COLUMN subject TO title;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let up = file(&json, "V0002__change.sql");
    assert_eq!(up["version"], 2);
    assert_eq!(up["risk"], "multi-step");
    let finding = &up["findings"][0];
    let keys: Vec<&str> = finding
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "acknowledged",
            "column",
            "help",
            "line",
            "message",
            "rule",
            "severity",
            "source"
        ]
    );
    assert_eq!(finding["rule"], "rename-column");
    assert_eq!(finding["severity"], "error");
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(finding["acknowledged"], false);
    let help = finding["help"].as_str().unwrap();
    assert!(
        help.contains(
            "1. add the new beside the old: ALTER TABLE tickets ADD COLUMN subject text;"
        ),
        "{help}"
    );
    assert!(help.contains("5. remove the old"), "{help}");
    assert_eq!(file(&json, "V0002__change.down.sql")["risk"], "safe");
}

#[test]
fn text_shows_location_rule_message_help_and_summary() {
    let dir = folder(
        "ALTER TABLE tickets DROP COLUMN legacy;\n",
        "ALTER TABLE tickets ADD COLUMN legacy text;\n",
    );
    let output = xtask(&["lint", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let path = dir.path().join("V0002__change.sql");
    let first = format!(
        "{}:5:1  drop-column  dropping column `tickets.legacy`",
        path.display()
    );
    assert!(text.starts_with(&first), "{text}");
    assert!(
        text.contains("\n  help: this is the last step of expand/contract"),
        "{text}"
    );
    assert!(text.contains("4 files: 3 safe, 1 risky, 0 multi-step; 1 error, 0 warnings, 0 acknowledged\nrisky: V0002__change.sql\n"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour when not a terminal: {text:?}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 unacknowledged error"));
}

#[test]
fn github_format_writes_annotations() {
    let dir = folder(
        "CREATE INDEX tickets_title_idx ON tickets (title);\n",
        "DROP INDEX tickets_title_idx;\n",
    );
    let output = xtask(&["lint", "--format", "github", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let path = dir.path().join("V0002__change.sql");
    let annotation = format!(
        "::error file={},line=5,col=1,title=create-index-without-concurrently::CREATE INDEX on `tickets`",
        path.display()
    );
    assert!(
        text.lines().any(|line| line.starts_with(&annotation)),
        "{text}"
    );
    assert!(text.contains("%0Ahelp: build it concurrently"), "{text}");
}

#[test]
fn an_acknowledgement_with_a_reason_passes_and_keeps_the_risk() {
    let dir = folder(
        "-- xtask: allow drop-column -- unused since release 42\nALTER TABLE tickets DROP COLUMN legacy;\n",
        "ALTER TABLE tickets ADD COLUMN legacy text;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    let up = file(&json, "V0002__change.sql");
    assert_eq!(up["risk"], "risky");
    assert_eq!(up["findings"][0]["severity"], "error");
    assert_eq!(up["findings"][0]["acknowledged"], true);
}

#[test]
fn a_maintenance_window_acknowledges_every_risk() {
    let dir = folder(
        "-- xtask: maintenance-window\nALTER TABLE tickets DROP COLUMN legacy;\nTRUNCATE tickets;\n",
        "ALTER TABLE tickets ADD COLUMN legacy text;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    let findings = file(&json, "V0002__change.sql")["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(findings.len(), 2);
    assert!(findings
        .iter()
        .all(|finding| finding["acknowledged"] == true));
}

#[test]
fn an_acknowledgement_without_a_reason_fails() {
    let dir = folder(
        "-- xtask: allow drop-column\nALTER TABLE tickets DROP COLUMN legacy;\n",
        "ALTER TABLE tickets ADD COLUMN legacy text;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let rules: Vec<&str> = file(&json, "V0002__change.sql")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["bad-directive", "drop-column"]);
}

#[test]
fn a_misspelt_rule_in_an_acknowledgement_fails() {
    let dir = folder(
        "-- xtask: allow drop-colum -- unused\nALTER TABLE tickets DROP COLUMN legacy;\n",
        "ALTER TABLE tickets ADD COLUMN legacy text;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let finding = &file(&json, "V0002__change.sql")["findings"][0];
    assert_eq!(finding["rule"], "invalid-allow");
    assert!(finding["help"].as_str().unwrap().contains("drop-column"));
}

#[test]
fn unparsable_sql_is_a_syntax_error_at_its_line() {
    let dir = folder(
        "ALTER TABLE tickets ADD COLUMN due date;\nALTER TABLE tickets ADD COLUMN done boolean DEFALT false;\nDROP TABLE tickets;\n",
        "SELECT 1;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let findings = file(&json, "V0002__change.sql")["findings"]
        .as_array()
        .unwrap()
        .clone();
    let syntax = findings
        .iter()
        .find(|finding| finding["rule"] == "syntax-error")
        .expect("a syntax-error finding");
    assert_eq!(
        (syntax["line"].as_u64(), syntax["column"].as_u64()),
        (Some(6), Some(45))
    );
    assert!(syntax["message"].as_str().unwrap().contains("DEFALT"));
    // The statements around it are still linted.
    assert!(findings
        .iter()
        .any(|finding| finding["rule"] == "drop-table"));
}

#[test]
fn do_blocks_and_called_functions_are_linted_at_their_lines() {
    let dir = folder(
        "-- xtask: allow dynamic-sql -- drops a scratch table only\n\
         CREATE FUNCTION shrink() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  \
         ALTER TABLE tickets DROP COLUMN legacy;\n  EXECUTE format('DROP TABLE %I', 'scratch');\nEND $$;\n\
         DO $$\nBEGIN\n  ALTER TABLE tickets ALTER COLUMN title TYPE varchar(100);\nEND $$;\n\
         SELECT shrink();\n",
        "SELECT 1;\n",
    );
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let change = file(&json, "V0002__change.sql");
    assert_eq!(change["risk"], "multi-step");
    let findings: Vec<(String, u64, bool)> = change["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap().to_owned(),
                finding["line"].as_u64().unwrap(),
                finding["acknowledged"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            ("drop-column".to_owned(), 8, false),
            ("dynamic-sql".to_owned(), 9, true),
            ("change-column-type".to_owned(), 13, false),
        ],
        "{change:#}"
    );
}

#[test]
fn engine_rules_report_the_folder_problems() {
    let dir = folder("SELECT 1;\n", "SELECT 1;\n");
    write(dir.path(), "V0003__add-x.sql", "SELECT 1;\n");
    write(
        dir.path(),
        "V0004__no_down.sql",
        &format!("{DOCUMENTED}SELECT 1;\n"),
    );
    write(
        dir.path(),
        "V0005__empty.sql",
        &format!("{DOCUMENTED}SELECT 1;\n"),
    );
    write(dir.path(), "V0005__empty.down.sql", "-- nothing\n");
    write(
        dir.path(),
        "V0006__index.sql",
        &format!("{DOCUMENTED}CREATE INDEX CONCURRENTLY i ON tickets (title);\nCOMMIT;\n"),
    );
    write(
        dir.path(),
        "V0006__index.down.sql",
        "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY i;\nSELECT 1;\n",
    );
    write(
        dir.path(),
        "V0002__zz_again.sql",
        &format!("{DOCUMENTED}SELECT 1;\n"),
    );
    write(dir.path(), "V0009__orphan.down.sql", "SELECT 1;\n");
    write(dir.path(), "README.md", "notes\n");
    let (output, json) = lint_json(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let rules = |name: &str| -> Vec<String> {
        file(&json, name)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| finding["rule"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        rules("V0003__add-x.sql"),
        ["bad-file-name", "missing-documentation"]
    );
    assert_eq!(rules("V0004__no_down.sql"), ["missing-down"]);
    assert_eq!(rules("V0005__empty.down.sql"), ["empty-down"]);
    assert_eq!(
        rules("V0006__index.sql"),
        ["concurrently-needs-no-transaction", "transaction-control"]
    );
    assert_eq!(
        rules("V0006__index.down.sql"),
        ["no-transaction-single-statement"]
    );
    assert_eq!(rules("V0002__zz_again.sql"), ["duplicate-version"]);
    assert_eq!(rules("V0009__orphan.down.sql"), ["down-without-up"]);
    assert_eq!(rules("README.md"), ["bad-file-name"]);
}

#[test]
fn single_files_named_or_not_can_be_linted() {
    let dir = folder("TRUNCATE tickets;\n", "SELECT 1;\n");
    let named = dir.path().join("V0002__change.sql");
    let (output, json) = lint_json(&named);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json["files"].as_array().unwrap().len(), 1);
    assert_eq!(json["files"][0]["findings"][0]["rule"], "truncate-table");

    let scratch = dir.path().join("scratch.sql");
    write(
        dir.path(),
        "scratch.sql",
        &format!("{DOCUMENTED}CREATE TABLE a (id int);\n"),
    );
    let (output, json) = lint_json(&scratch);
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(json["files"][0]["version"], serde_json::Value::Null);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["lint", "--explain", "no-such-rule"][..],
        &["lint", "/no/such/path.sql"],
        &["lint", "--format", "xml"],
    ] {
        let output = xtask(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn explain_prints_a_rules_documentation() {
    let output = xtask(&["lint", "--explain", "set-not-null"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.starts_with("set-not-null (error, makes the migration risky)"),
        "{text}"
    );
    assert!(text.contains("Safe way:"), "{text}");
}

/// Copies every file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_change_that_breaks_a_backend_query_is_multi_step_and_names_the_query() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("sql");
    copy_dir(&root.join("migrations/sql"), &migrations);
    copy_dir(&root.join(".sqlx"), &dir.path().join(".sqlx"));
    write(
        &migrations,
        "V0100__rename_ticket_title.sql",
        &format!("{DOCUMENTED}ALTER TABLE tickets RENAME COLUMN title TO subject;\n"),
    );
    write(
        &migrations,
        "V0100__rename_ticket_title.down.sql",
        "ALTER TABLE tickets RENAME COLUMN subject TO title;\n",
    );
    let (output, json) = lint_json(&migrations);
    assert_eq!(output.status.code(), Some(1), "{json:#}");
    let up = file(&json, "V0100__rename_ticket_title.sql");
    assert_eq!(up["risk"], "multi-step");
    let finding = up["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["rule"] == "breaks-backend-query")
        .unwrap_or_else(|| panic!("no breaks-backend-query finding in {up:#}"));
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.starts_with("`tickets.title` is read by the backend's query `SELECT t.id, t.title,")
            && message.contains("(.sqlx/query-1983c672733a0ba25cfd2c2539c87ff39a390c6ffe1c59167437ba979f5b0ee4.json)"),
        "{message}"
    );
    assert_eq!(
        file(&json, "V0100__rename_ticket_title.down.sql")["findings"],
        serde_json::json!([])
    );
    // Nothing the project's own migrations do breaks a query.
    let elsewhere = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|other| !other["path"].as_str().unwrap().contains("V0100"))
        .flat_map(|other| other["findings"].as_array().unwrap())
        .filter(|finding| finding["rule"] == "breaks-backend-query")
        .count();
    assert_eq!(elsewhere, 0, "{json:#}");
}
