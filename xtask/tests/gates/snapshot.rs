//! The schema snapshot: written, checked, compared with the live schema, and covering every kind
//! of object, cascaded ones included.

use serde_json::Value;

use super::{roundtrip, BASE, BASE_DOWN};
use crate::support::Fixture;

#[test]
fn the_snapshot_is_written_checked_and_compared_with_the_live_schema() {
    let fixture = Fixture::new();
    the_snapshot_is_written_and_checked(&fixture);
    verify_wants_head_and_the_snapshot(&fixture);
    verify_reports_what_drifted_by_hand(&fixture);
}

/// `schema dump` writes the snapshot; `--check` fails when it is missing or out of date.
fn the_snapshot_is_written_and_checked(fixture: &Fixture) {
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
}

/// verify: pending is a failure unless allowed; at head the live schema must match.
fn verify_wants_head_and_the_snapshot(fixture: &Fixture) {
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
}

/// A hotfix by hand, a NOT VALID constraint and an INVALID index: verify names each.
fn verify_reports_what_drifted_by_hand(fixture: &Fixture) {
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
