//! The gates: rollback round-trip, schema snapshot, verify, check-migrations and import.

mod support;

use serde_json::Value;
use support::Fixture;

const BASE: &str = "CREATE TABLE t (
    id int PRIMARY KEY,
    c int DEFAULT 0 CONSTRAINT t_c_check CHECK (c >= 0),
    d int NOT NULL DEFAULT 1,
    e int
);
CREATE INDEX t_c_idx ON t (c);
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TABLE seen (key text PRIMARY KEY);";
const BASE_DOWN: &str = "DROP TABLE seen; DROP FUNCTION f(); DROP TABLE t;";

fn roundtrip(fixture: &Fixture, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["test-rollback-roundtrip", "--format", "json"];
    args.extend_from_slice(extra);
    let run = fixture.xtask(&args);
    let report =
        serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}:\n{run}"));
    (run.code, report)
}

/// A base migration, the broken one as version 2, and a healthy version 3 after it.
fn broken_rollback_fixture(up: &str, down: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture
        .migration(1, "base", BASE, BASE_DOWN)
        .migration(2, "broken", up, down)
        .migration(
            3,
            "after",
            "CREATE TABLE later (id int);",
            "DROP TABLE later;",
        );
    fixture
}

#[test]
fn every_kind_of_broken_rollback_is_caught_and_the_run_goes_on() {
    let cases: [(&str, &str, &str, &str, &str); 8] = [
        ("lost default", "ALTER TABLE t ALTER c DROP DEFAULT;", "SELECT 1;", "down",
         "after down: table t: column c: default 0 -> (none)"),
        ("lost NOT NULL", "ALTER TABLE t ALTER d DROP NOT NULL;", "SELECT 1;", "down",
         "after down: table t: column d: not null yes -> (none)"),
        ("lost index", "DROP INDEX t_c_idx;", "SELECT 1;", "down",
         "after down: table t: index t_c_idx CREATE INDEX t_c_idx ON public.t USING btree (c) -> (none)"),
        ("lost constraint", "ALTER TABLE t DROP CONSTRAINT t_c_check;", "SELECT 1;", "down",
         "after down: table t: constraint t_c_check CHECK (c >= 0) -> (none)"),
        ("function body not restored",
         "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;",
         "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 3 $$;", "down",
         "after down: function f(): definition changed at line 4: \"AS $function$ SELECT 1 $function$\" -> \"AS $function$ SELECT 3 $function$\""),
        ("a down that fails", "CREATE TABLE x (id int);", "DROP TABLE x;\nDROP TABLE nope;", "down",
         "V0002__broken.down.sql: table \"nope\" does not exist"),
        ("a down that only works on empty tables", "ALTER TABLE t DROP COLUMN e;",
         "ALTER TABLE t ADD COLUMN e int NOT NULL;", "down",
         "column \"e\" of relation \"t\" contains null values"),
        ("a re-up that fails", "INSERT INTO seen VALUES ('migrated');", "SELECT 1;", "reup",
         "duplicate key value violates unique constraint \"seen_pkey\""),
    ];
    for (case, up, down, step, needle) in cases {
        let fixture = broken_rollback_fixture(up, down);
        let (code, report) = roundtrip(&fixture, &[]);
        assert_eq!(code, 1, "{case}: {report:#}");
        let migrations = report["migrations"].as_array().unwrap();
        assert_eq!(migrations.len(), 3, "{case}: all three reported");
        assert_eq!(migrations[0]["result"], "passed", "{case}");
        let broken = &migrations[1];
        assert_eq!(broken["result"], "failed", "{case}: {broken:#}");
        assert_eq!(broken["step"], step, "{case}: {broken:#}");
        let said = format!("{} {}", broken["error"], broken["differences"]);
        assert!(
            said.contains(&needle.replace('"', "\\\"")) || said.contains(needle),
            "{case}: expected {needle:?} in {broken:#}"
        );
        assert_eq!(
            migrations[2]["result"], "passed",
            "{case}: the run went on: {report:#}"
        );
    }
}

#[test]
fn correct_histories_pass_and_column_order_is_a_warning_unless_strict() {
    let fixture = Fixture::with_project_migrations();
    let (code, report) = roundtrip(&fixture, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["result"] == "passed" && m["step"].is_null()));

    let fixture = Fixture::new();
    fixture
        .migration(1, "base", BASE, BASE_DOWN)
        .migration(2, "drop_e", "ALTER TABLE t DROP COLUMN c;", "ALTER TABLE t ADD COLUMN c int DEFAULT 0 CONSTRAINT t_c_check CHECK (c >= 0);\nCREATE INDEX t_c_idx ON t (c);");
    let (code, report) = roundtrip(&fixture, &[]);
    assert_eq!(code, 0, "{report:#}");
    let warnings = report["migrations"][1]["warnings"].to_string();
    assert!(
        warnings.contains("after down: table t: column order id, c, d, e -> id, d, e, c"),
        "{warnings}"
    );
    let (code, report) = roundtrip(&fixture, &["--strict-column-order"]);
    assert_eq!(code, 1);
    assert_eq!(report["migrations"][1]["step"], "down");

    let (code, report) = roundtrip(&fixture, &["--from", "2"]);
    assert_eq!(code, 0);
    assert_eq!(
        report["migrations"].as_array().unwrap().len(),
        1,
        "--from skips earlier round-trips: {report:#}"
    );
}

#[test]
fn the_snapshot_is_written_checked_and_compared_with_the_live_schema() {
    let fixture = Fixture::new();
    fixture.migration(1, "base", BASE, BASE_DOWN);
    fixture
        .xtask(&["schema", "dump", "--check"])
        .assert_user_error(&["schema.snapshot does not exist"]);
    fixture.xtask(&["schema", "dump"]).assert_ok();
    let text = std::fs::read_to_string(fixture.work.path().join("schema.snapshot")).unwrap();
    assert!(
        text.contains("table t\n") && text.contains("    column c: default = 0\n"),
        "{text}"
    );
    fixture.xtask(&["schema", "dump", "--check"]).assert_ok();

    fixture.migration(
        2,
        "more",
        "ALTER TABLE t ADD COLUMN note text;",
        "ALTER TABLE t DROP COLUMN note;",
    );
    fixture
        .xtask(&["schema", "dump", "--check"])
        .assert_user_error(&[
            "schema.snapshot is out of date",
            "table t: column note: type (none) -> text",
        ]);
    fixture.xtask(&["schema", "dump"]).assert_ok();

    // verify: pending is a failure unless allowed; at head the live schema must match.
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    fixture
        .xtask(&["verify"])
        .assert_user_error(&["failed verification: history matches the migration files"]);
    fixture.xtask(&["verify", "--allow-pending"]).assert_ok();
    fixture.xtask(&["migrate"]).assert_ok();
    let run = fixture.xtask(&["verify"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("ok    live schema equals the committed snapshot"),
        "{run}"
    );

    // A hotfix by hand, a NOT VALID constraint and an INVALID index.
    let mut client = fixture.client();
    client
        .batch_execute(
            "ALTER TABLE t ALTER COLUMN d SET DEFAULT 7;
             ALTER TABLE t ADD CONSTRAINT t_e_positive CHECK (e > 0) NOT VALID;
             INSERT INTO seen VALUES ('a'), ('a ');",
        )
        .unwrap();
    let _ =
        client.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY seen_trimmed ON seen (btrim(key))");
    let run = fixture.xtask(&["verify", "--format", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let by_name = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with(name))
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("history")["passed"], true);
    assert_eq!(by_name("no INVALID index")["passed"], false);
    assert!(by_name("no INVALID index")["details"]
        .to_string()
        .contains("public.seen_trimmed"));
    assert!(by_name("constraints left NOT VALID")["details"]
        .to_string()
        .contains("t_e_positive on t is NOT VALID"));
    let snapshot = by_name("live schema");
    assert_eq!(snapshot["passed"], false);
    assert!(
        snapshot["details"]
            .to_string()
            .contains("table t: column d: default 1 -> 7 (snapshot -> live)"),
        "{snapshot:#}"
    );
}

#[test]
fn check_migrations_runs_every_step_and_fails_on_a_broken_rollback() {
    let fixture = Fixture::new();
    fixture.migration(1, "base", BASE, BASE_DOWN);
    fixture.xtask(&["schema", "dump"]).assert_ok();
    let run = fixture.xtask(&["check-migrations", "--format", "json"]);
    assert_eq!(run.code, 0, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let steps: Vec<(String, String)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps[0], ("lint".to_owned(), "passed".to_owned()));
    assert_eq!(
        steps[1],
        ("migration files".to_owned(), "passed".to_owned())
    );
    assert!(steps
        .iter()
        .any(|(name, result)| name == "rollback round-trip" && result == "passed"));
    assert!(steps
        .iter()
        .any(|(name, result)| name.starts_with("backend tests") && result == "skipped"));
    assert!(report["steps"][0]["duration_ms"].is_u64());

    fixture.migration(
        2,
        "broken",
        "ALTER TABLE t ALTER c DROP DEFAULT;",
        "SELECT 1;",
    );
    let run = fixture.xtask(&["check-migrations"]);
    run.assert_user_error(&[
        "check-migrations failed: rollback round-trip, schema snapshot up to date, verify",
    ]);
    assert!(
        run.stdout.contains("V0002__broken  FAILED at down"),
        "{run}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("rollback round-trip ") && line.contains(" FAILED ")),
        "the summary table says which step failed: {run}"
    );
}

#[test]
fn import_keeps_order_names_and_transaction_settings() {
    let source = tempfile::tempdir().unwrap();
    let diesel = |folder: &str, up: &str, metadata: Option<&str>| {
        let dir = source.path().join(folder);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("up.sql"), up).unwrap();
        std::fs::write(dir.join("down.sql"), "SELECT 1;\n").unwrap();
        if let Some(metadata) = metadata {
            std::fs::write(dir.join("metadata.toml"), metadata).unwrap();
        }
    };
    diesel(
        "2024-03-01-120000_create_users",
        "CREATE TABLE users (id int PRIMARY KEY);\n",
        None,
    );
    diesel(
        "2023-12-31-235959_Initial-Setup",
        "CREATE TABLE setup (id int);\n",
        None,
    );
    diesel(
        "2024-03-02-080000_index_users",
        "CREATE INDEX CONCURRENTLY users_id_idx ON users (id);\n",
        Some("run_in_transaction = false\n"),
    );
    let fixture = Fixture::new();
    let into = fixture.dir();
    let run = fixture.xtask(&[
        "import",
        "--from",
        "diesel",
        source.path().to_str().unwrap(),
        "--into",
        into.to_str().unwrap(),
    ]);
    run.assert_ok();
    let files: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(&into)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        files,
        vec![
            "V0001__initial_setup.down.sql",
            "V0001__initial_setup.sql",
            "V0002__create_users.down.sql",
            "V0002__create_users.sql",
            "V0003__index_users.down.sql",
            "V0003__index_users.sql",
        ]
    );
    let index = std::fs::read_to_string(into.join("V0003__index_users.sql")).unwrap();
    assert!(
        index.contains("-- xtask: no-transaction") && index.contains("-- Purpose: <"),
        "{index}"
    );
    fixture.xtask(&["migrate"]).assert_ok();
    fixture
        .xtask(&[
            "import",
            "--from",
            "diesel",
            source.path().to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ])
        .assert_user_error(&["already holds migrations"]);

    // golang-migrate orders by number, not by text; sqlx keeps `-- no-transaction`.
    let source = tempfile::tempdir().unwrap();
    for (file, text) in [
        ("10_later.up.sql", "SELECT 10;"),
        ("10_later.down.sql", "SELECT 1;"),
        ("2_earlier.up.sql", "SELECT 2;"),
        ("2_earlier.down.sql", "SELECT 1;"),
    ] {
        std::fs::write(source.path().join(file), text).unwrap();
    }
    let into = fixture.work.path().join("golang");
    fixture
        .xtask(&[
            "import",
            "--from",
            "golang-migrate",
            source.path().to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ])
        .assert_ok();
    assert!(into.join("V0001__earlier.sql").is_file() && into.join("V0002__later.sql").is_file());

    let source = tempfile::tempdir().unwrap();
    std::fs::write(
        source.path().join("20240101000000_idx.up.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
    )
    .unwrap();
    std::fs::write(
        source.path().join("20240101000000_idx.down.sql"),
        "DROP INDEX CONCURRENTLY i;",
    )
    .unwrap();
    let into = fixture.work.path().join("sqlx");
    fixture
        .xtask(&[
            "import",
            "--from",
            "sqlx",
            source.path().to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ])
        .assert_ok();
    let up = std::fs::read_to_string(into.join("V0001__idx.sql")).unwrap();
    let down = std::fs::read_to_string(into.join("V0001__idx.down.sql")).unwrap();
    assert!(up.contains("-- xtask: no-transaction") && down.contains("-- xtask: no-transaction"));

    // Refusals name the files at fault.
    std::fs::write(
        source.path().join("20240101000000_again.up.sql"),
        "SELECT 1;",
    )
    .unwrap();
    fixture
        .xtask(&[
            "import",
            "--from",
            "sqlx",
            source.path().to_str().unwrap(),
            "--into",
            fixture.work.path().join("a").to_str().unwrap(),
        ])
        .assert_user_error(&["both have version 20240101000000"]);
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("1_lonely.up.sql"), "SELECT 1;").unwrap();
    fixture
        .xtask(&[
            "import",
            "--from",
            "golang-migrate",
            source.path().to_str().unwrap(),
            "--into",
            fixture.work.path().join("b").to_str().unwrap(),
        ])
        .assert_user_error(&["1_lonely.up.sql has no .down.sql"]);
}

#[test]
fn objects_reached_only_through_cascade_are_compared_too() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "base", BASE, BASE_DOWN)
        .migration(
            2,
            "view",
            "CREATE VIEW t_summary AS SELECT id, e FROM t;",
            "DROP VIEW t_summary;",
        )
        // Names neither the view nor anything in it: the CASCADE takes the view along.
        .migration(
            3,
            "drop_e",
            "ALTER TABLE t DROP COLUMN e CASCADE;",
            "ALTER TABLE t ADD COLUMN e int;",
        );
    let (code, report) = roundtrip(&fixture, &[]);
    assert_eq!(code, 1, "{report:#}");
    let broken = &report["migrations"][2];
    assert_eq!(broken["step"], "down", "{broken:#}");
    assert!(
        broken["differences"]
            .to_string()
            .contains("after down: view t_summary: removed"),
        "{broken:#}"
    );
}

#[test]
fn the_snapshot_covers_every_kind_of_object_and_round_trips_them() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "every_kind",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;
         CREATE SCHEMA audit;
         COMMENT ON SCHEMA audit IS 'who did what';
         CREATE TYPE mood AS ENUM ('calm', 'busy');
         CREATE TYPE point2 AS (x int, y int);
         CREATE DOMAIN positive AS int CHECK (VALUE > 0);
         CREATE SEQUENCE ticket_numbers START 100 INCREMENT 5;
         CREATE TABLE audit.events (
             id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
             owner_name text NOT NULL COLLATE \"C\",
             doubled int GENERATED ALWAYS AS (id * 2) STORED,
             feeling mood,
             weight positive,
             CONSTRAINT events_owner_unique UNIQUE (owner_name) DEFERRABLE INITIALLY DEFERRED
         );
         COMMENT ON COLUMN audit.events.owner_name IS 'login';
         ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own_rows ON audit.events FOR SELECT USING (owner_name = current_user);
         CREATE MATERIALIZED VIEW audit.event_counts AS SELECT feeling, count(*) FROM audit.events GROUP BY feeling;
         CREATE INDEX event_counts_feeling ON audit.event_counts (feeling);
         CREATE PROCEDURE audit.purge() LANGUAGE sql AS $$ DELETE FROM audit.events $$;",
        "DROP PROCEDURE audit.purge();
         DROP MATERIALIZED VIEW audit.event_counts;
         DROP TABLE audit.events;
         DROP SEQUENCE ticket_numbers;
         DROP DOMAIN positive;
         DROP TYPE point2;
         DROP TYPE mood;
         DROP SCHEMA audit;
         DROP EXTENSION pgcrypto;",
    );
    fixture.xtask(&["schema", "dump"]).assert_ok();
    let text = std::fs::read_to_string(fixture.work.path().join("schema.snapshot")).unwrap();
    for expected in [
        "extension pgcrypto\n",
        "schema audit\n    comment = who did what\n",
        "type mood\n    enum = 'calm', 'busy'\n",
        "type point2\n",
        "type positive\n    constraint positive_check = CHECK (VALUE > 0)\n    domain = integer\n",
        "sequence ticket_numbers\n",
        "    sequence = bigint start 100 increment 5",
        "table audit.events\n",
        "    column doubled: generated = (id * 2) stored\n",
        "    column id: identity = by default\n",
        "    column owner_name: collation = C\n",
        "    column owner_name: comment = login\n",
        "    constraint events_owner_unique = UNIQUE (owner_name) DEFERRABLE INITIALLY DEFERRED\n",
        "    policy own_rows = PERMISSIVE FOR SELECT TO PUBLIC USING ((owner_name = CURRENT_USER)) WITH CHECK (true)\n",
        "    row level security = enabled\n",
        "materialized view audit.event_counts\n",
        "    index event_counts_feeling = CREATE INDEX event_counts_feeling ON audit.event_counts USING btree (feeling)\n",
        "procedure audit.purge()\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains("digest"),
        "extension members are not listed one by one"
    );
    let (code, report) = roundtrip(&fixture, &[]);
    assert_eq!(code, 0, "{report:#}");
}
