//! `lint --trace` and deploy-db's traced preflight against the real server: what PostgreSQL did
//! decides the lock, rewrite and scan part of the verdict.

mod support;

use serde_json::Value;
use support::{server, Fixture, Run};

const TABLE: &str =
    "CREATE TABLE t (id int PRIMARY KEY, a int, b text);\nCREATE INDEX t_b ON t (b);";

/// A folder whose V1 creates `t` and whose V2 is `up`, linted with `--trace` as JSON.
fn traced(up: &str) -> (Fixture, Run, Value) {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_t", TABLE, "DROP TABLE t;")
        .migration(2, "change", up, "SELECT 1;");
    let run = lint(&fixture, &["--format", "json"]);
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{run:?}"));
    (fixture, run, json)
}

fn lint(fixture: &Fixture, extra: &[&str]) -> Run {
    let dir = fixture.dir();
    let mut args = vec!["lint", "--trace", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut command = fixture.command(&args);
    command.env("DATABASE_URL", server().secret_conninfo());
    command.env("NO_COLOR", "1");
    support::run(command)
}

/// The report of the file whose path ends with `name`.
fn report<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {json:#}"))
}

fn v2(json: &Value) -> &Value {
    report(json, "V0002__change.sql")
}

/// The findings on a line of V2's SQL (after its four documentation lines): (rule, source).
fn findings_on(file: &Value, sql_line: u64) -> Vec<(String, String)> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["line"] == sql_line + 4)
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap().to_owned(),
                finding["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn statement(file: &Value, sql_line: u64) -> &Value {
    file["trace"]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["line"] == sql_line + 4)
        .unwrap_or_else(|| panic!("no traced statement on line {sql_line}: {file:#}"))
}

#[test]
fn the_trace_confirms_rules_and_catches_forms_no_rule_names() {
    let (_fixture, run, json) = traced(
        "ALTER TABLE t ADD COLUMN c int DEFAULT 0;\n\
         CREATE INDEX t_a ON t (a);\n\
         ALTER TABLE t ALTER COLUMN b TYPE text COLLATE \"C\";",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let file = v2(&json);
    assert_eq!(file["risk"], "risky", "{file:#}");

    // A catalog-only change under a brief lock: reported, not a finding.
    assert!(findings_on(file, 1).is_empty(), "{file:#}");
    let add = statement(file, 1);
    assert_eq!(add["locks"][0]["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(
        add["locks"][0]["blocks"],
        serde_json::json!(["reads", "writes", "ddl"])
    );
    assert_eq!(add["rewrites"], serde_json::json!([]));

    // A rule the trace agrees with.
    assert!(
        findings_on(file, 2).contains(&(
            "create-index-without-concurrently".into(),
            "confirmed".into()
        )),
        "{file:#}"
    );
    assert_eq!(statement(file, 2)["built"][0]["index"], "public.t_a");

    // A collation change keeps the type, yet PostgreSQL rebuilds the column's index under ACCESS
    // EXCLUSIVE: whatever a rule says, the trace sees the rebuild.
    let collation = findings_on(file, 3);
    assert!(
        collation
            .iter()
            .any(|(_, source)| source == "trace" || source == "confirmed"),
        "{file:#}"
    );
    assert_eq!(
        statement(file, 3)["built"][0]["index"],
        "public.t_b",
        "{file:#}"
    );
}

#[test]
fn data_changes_are_judged_by_the_rows_and_the_index_postgresql_used() {
    let (_fixture, _run, json) = traced(
        "UPDATE t SET a = 1 WHERE id = 1;\n\
         UPDATE t SET b = 'x' WHERE a = 5;",
    );
    let file = v2(&json);
    // One row through the primary key: nothing counts against the file.
    let by_key = findings_on(file, 1);
    assert!(
        by_key
            .iter()
            .all(|(_, source)| source == "cleared-by-trace"),
        "{file:#}"
    );
    // No index serves `a = 5`: in production that reads the whole table.
    let by_scan = findings_on(file, 2);
    assert!(
        by_scan
            .iter()
            .any(|(_, source)| source == "trace" || source == "confirmed"),
        "{file:#}"
    );
    assert_eq!(file["risk"], "risky");
}

#[test]
fn text_shows_the_trace_compactly_and_a_refused_statement_in_one_line() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_t", TABLE, "DROP TABLE t;")
        .migration(
            2,
            "change",
            "ALTER TABLE t SET UNLOGGED;\nUPDATE t SET a = 'not a number';\nALTER TABLE t ADD COLUMN z int;",
            "SELECT 1;",
        );
    let run = lint(&fixture, &[]);
    let trace_lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains("  trace  "))
        .collect();
    assert!(
        trace_lines
            .iter()
            .any(|line| line.contains("V0002__change.sql:5:1")
                && line.contains("ACCESS EXCLUSIVE on public.t (blocks reads and writes)")
                && line.contains("rewrote public.t")),
        "{run:?}"
    );
    assert!(
        trace_lines.iter().any(|line| line.contains(
            "PostgreSQL refused the statement at line 6: invalid input syntax for type integer"
        )),
        "{run:?}"
    );
}

#[test]
fn without_a_server_the_static_verdict_stands_with_one_line_saying_why() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_t", TABLE, "DROP TABLE t;")
        .migration(2, "change", "ALTER TABLE t DROP COLUMN b;", "SELECT 1;");
    let dir = fixture.dir();
    let mut command = fixture.command(&[
        "lint",
        "--trace",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/postgres",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    command.env("NO_COLOR", "1");
    let run = support::run(command);
    assert_eq!(run.code, 1, "drop-column still fails the lint: {run:?}");
    assert!(run.stdout.contains("drop-column"), "{run:?}");
    let why: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("trace unavailable"))
        .collect();
    assert_eq!(why.len(), 1, "{run:?}");
    assert!(why[0].contains("127.0.0.1:1"), "{run:?}");
    assert!(!run.all_output().contains("hunter2"), "{run:?}");
}

#[test]
fn a_file_that_does_not_parse_is_reported_and_the_others_are_still_traced() {
    let (_fixture, run, json) = traced("ALTER TABEL t ADD COLUMN c int;");
    assert_eq!(run.code, 1);
    let file = v2(&json);
    assert!(
        file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|finding| finding["rule"] == "syntax-error"),
        "{file:#}"
    );
    assert!(file["trace"].is_null(), "{file:#}");
    let v1 = report(&json, "V0001__create_t.sql");
    assert!(v1["trace"]["statements"].is_array(), "{v1:#}");
}

#[test]
fn the_trace_leaves_no_database_behind() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_t", TABLE, "DROP TABLE t;")
        .migration(2, "change", "ALTER TABLE t ADD COLUMN c int;", "SELECT 1;");
    let dir = fixture.dir();
    let mut command = fixture.command(&["lint", "--trace", "--dir", dir.to_str().unwrap()]);
    command.env("DATABASE_URL", server().secret_conninfo());
    let child = command.stdout(std::process::Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut client = server().connect("bomizzel-test").unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
            &[&format!("bomizzel\\_trace\\_{pid}\\_%")],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn deploy_db_dry_run_shows_each_statements_lock_work_and_target_size() {
    let fixture = Fixture::new();
    fixture.migration(1, "create_t", TABLE, "DROP TABLE t;");
    fixture.xtask(&["migrate"]).assert_ok();
    fixture
        .client()
        .batch_execute("INSERT INTO t SELECT g, g, 'x' FROM generate_series(1, 5000) g; ANALYZE t")
        .unwrap();
    fixture.migration(
        2,
        "change",
        "ALTER TABLE t ADD COLUMN c int;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        "ALTER TABLE t ALTER COLUMN a DROP NOT NULL;\nALTER TABLE t DROP COLUMN c;",
    );
    let dir = fixture.dir();
    let run = fixture.xtask(&[
        "deploy-db",
        "--dry-run",
        "--maintenance-window",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let out = run.all_output();
    assert!(
        out.contains("line 5 `ALTER TABLE t ADD COLUMN c int`: ACCESS EXCLUSIVE on public.t (blocks reads and writes), catalog only; on the target: 5000 rows"),
        "{out}"
    );
    assert!(
        out.contains("line 6 `ALTER TABLE t ALTER COLUMN a SET NOT NULL`: ACCESS EXCLUSIVE on public.t (blocks reads and writes), scan; on the target: 5000 rows")
            && out.contains("expected lock about"),
        "{out}"
    );
    assert_eq!(fixture.applied(), [1], "a dry run changes nothing");
}

#[test]
fn a_migration_refused_over_generated_rows_is_applied_again_and_the_history_goes_on() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_t", TABLE, "DROP TABLE t;")
        .migration(
            2,
            "tighten",
            "-- Reads nothing from pg_class; the word must not make the trace touch catalogs.\n\
             ALTER TABLE t ADD CONSTRAINT t_a_negative CHECK (a < 0);",
            "ALTER TABLE t DROP CONSTRAINT t_a_negative;",
        )
        .migration(
            3,
            "more",
            "ALTER TABLE t ADD COLUMN c int;",
            "ALTER TABLE t DROP COLUMN c;",
        );
    let run = lint(&fixture, &["--format", "json"]);
    assert!(!run.stderr.contains("trace unavailable"), "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let tighten = report(&json, "V0002__tighten.sql");
    assert!(
        tighten["trace"]["failure"]
            .as_str()
            .is_some_and(|failure| failure.contains("violated by some row")),
        "{tighten:#}"
    );
    assert!(
        tighten["trace"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|warning| warning
                .as_str()
                .unwrap()
                .starts_with("applied without its generated rows")),
        "{tighten:#}"
    );
    let more = report(&json, "V0003__more.sql");
    assert!(more["trace"]["failure"].is_null(), "{more:#}");
    assert_eq!(more["trace"]["statements"][0]["ran"], true, "{more:#}");
}
