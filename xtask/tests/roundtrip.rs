//! The round-trip never cries wolf: each false alarm found on real histories, reproduced with a
//! few tiny migrations, now passes; a rollback that breaks only on rows is named a data hazard.

mod support;

use serde_json::Value;
use support::Fixture;

fn roundtrip(fixture: &Fixture) -> (i32, Value) {
    let run = fixture.xtask(&["test-rollback-roundtrip", "--format", "json"]);
    let report =
        serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}:\n{run}"));
    (run.code, report)
}

/// Every migration passed, met rows in every table it names, and warned of nothing.
fn assert_clean_pass(fixture: &Fixture) -> Value {
    let (code, report) = roundtrip(fixture);
    assert_eq!(code, 0, "{report:#}");
    for migration in report["migrations"].as_array().unwrap() {
        assert_eq!(migration["result"], "passed", "{migration:#}");
        assert_eq!(migration["filled"], true, "{migration:#}");
        assert_eq!(migration["warnings"], Value::Array(vec![]), "{migration:#}");
    }
    report
}

#[test]
fn a_word_of_64_bytes_or_more_in_a_comment_is_no_name() {
    let fixture = Fixture::new();
    let word = "w".repeat(70);
    fixture
        .migration(
            1,
            "t",
            "CREATE TABLE t (id int PRIMARY KEY);",
            "DROP TABLE t;",
        )
        .migration(
            2,
            "add_column",
            &format!("-- {word}\nALTER TABLE t ADD COLUMN c int;"),
            &format!("-- {word}\nALTER TABLE t DROP COLUMN c;"),
        );
    assert_clean_pass(&fixture);
}

#[test]
fn an_enum_label_added_by_the_up_can_be_used_by_the_down() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "person",
            "CREATE TYPE mood AS ENUM ('ok', 'sad');
             CREATE TABLE person (id int PRIMARY KEY, m mood NOT NULL);",
            "DROP TABLE person; DROP TYPE mood;",
        )
        .migration(
            2,
            "happy",
            "ALTER TYPE mood ADD VALUE 'happy';",
            "UPDATE person SET m = 'ok' WHERE m = 'happy';
             ALTER TYPE mood RENAME TO mood_old;
             CREATE TYPE mood AS ENUM ('ok', 'sad');
             ALTER TABLE person ALTER COLUMN m TYPE mood USING m::text::mood;
             DROP TYPE mood_old;",
        )
        .migration(
            3,
            "later",
            "ALTER TABLE person ADD COLUMN note text;",
            "ALTER TABLE person DROP COLUMN note;",
        );
    assert_clean_pass(&fixture);
}

#[test]
fn deferred_foreign_keys_leave_no_pending_checks_for_the_down() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "tables",
            "CREATE TABLE parent (id int PRIMARY KEY);
             CREATE TABLE child (id int PRIMARY KEY,
                 parent_id int NOT NULL REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
            "DROP TABLE child; DROP TABLE parent;",
        )
        .migration(
            2,
            "note",
            "ALTER TABLE child ADD COLUMN note text;",
            "ALTER TABLE child DROP COLUMN note;",
        )
        .migration(
            3,
            "index",
            "CREATE INDEX child_parent ON child (parent_id);",
            "DROP INDEX child_parent;",
        );
    assert_clean_pass(&fixture);
}

#[test]
fn rows_generated_around_a_no_transaction_migration_are_removed() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "users",
            "CREATE TABLE users (id int PRIMARY KEY, name text);",
            "DROP TABLE users;",
        )
        .migration(
            2,
            "users_name",
            "-- xtask: no-transaction\nCREATE INDEX CONCURRENTLY users_name ON users (name);",
            "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY users_name;",
        )
        .migration(
            3,
            "name_required",
            "ALTER TABLE users ALTER COLUMN name SET NOT NULL;",
            "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;",
        );
    assert_clean_pass(&fixture);
}

#[test]
fn the_generator_fills_unique_foreign_keys_uncommon_types_and_checks() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "tables",
            r"CREATE DOMAIN positive AS int CHECK (VALUE > 0);
             CREATE TABLE document (
                 id int PRIMARY KEY,
                 body tsvector NOT NULL,
                 owner oid NOT NULL,
                 span int4range NOT NULL,
                 at point NOT NULL,
                 weight positive NOT NULL,
                 version text NOT NULL CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
                 code text NOT NULL CHECK (code ~ '^[A-Z]{3}$'),
                 state text NOT NULL CHECK (state IN ('draft', 'final'))
             );
             CREATE TABLE summary (
                 id int PRIMARY KEY,
                 document_id int NOT NULL UNIQUE REFERENCES document
             );",
            "DROP TABLE summary; DROP TABLE document; DROP DOMAIN positive;",
        )
        .migration(
            2,
            "summary_note",
            "-- Reads pg_class and pg_attribute, as a comment may say.\nALTER TABLE summary ADD COLUMN note text;",
            "ALTER TABLE summary DROP COLUMN note;",
        );
    assert_clean_pass(&fixture);

    // What cannot be filled is named: the parent at fault, not only the child it starves.
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "tables",
            "CREATE DOMAIN huge AS int CHECK (VALUE > 1000000000);
             CREATE TABLE account (id int PRIMARY KEY, quota huge NOT NULL);
             CREATE TABLE invoice (id int PRIMARY KEY, account_id int NOT NULL REFERENCES account);",
            "DROP TABLE invoice; DROP TABLE account; DROP DOMAIN huge;",
        )
        .migration(
            2,
            "invoice_note",
            "ALTER TABLE invoice ADD COLUMN note text;",
            "ALTER TABLE invoice DROP COLUMN note;",
        );
    let (code, report) = roundtrip(&fixture);
    assert_eq!(code, 0, "{report:#}");
    let second = &report["migrations"][1];
    assert_eq!(second["filled"], false, "{second:#}");
    let warnings = second["warnings"].to_string();
    assert!(
        warnings.contains("could not generate rows for account (a parent of invoice"),
        "{warnings}"
    );
    assert_eq!(report["coverage"]["checked"], 2);
    assert_eq!(report["coverage"]["filled"], 0, "both name account");
}

#[test]
fn a_rollback_that_breaks_only_on_rows_is_a_data_hazard_until_acknowledged() {
    let base = (
        "CREATE TABLE t (id int PRIMARY KEY, e int NOT NULL);",
        "DROP TABLE t;",
    );
    let (up, down) = (
        "ALTER TABLE t DROP COLUMN e;",
        "ALTER TABLE t ADD COLUMN e int NOT NULL;",
    );
    let fixture = Fixture::new();
    fixture
        .migration(1, "t", base.0, base.1)
        .migration(2, "drop_e", up, down);
    let (code, report) = roundtrip(&fixture);
    assert_eq!(code, 1, "{report:#}");
    let hazard = &report["migrations"][1];
    assert_eq!(hazard["result"], "failed", "{hazard:#}");
    assert_eq!(hazard["step"], "down");
    assert_eq!(hazard["cause"], "data");
    assert_eq!(hazard["hazard"]["table"], "t", "{hazard:#}");
    assert_eq!(hazard["hazard"]["column"], "e", "{hazard:#}");
    assert_eq!(hazard["hazard"]["value"], "NULL", "{hazard:#}");
    let text = fixture.xtask(&["test-rollback-roundtrip"]);
    assert!(
        text.stdout.contains("data hazard") && text.stdout.contains("hazard: t.e: NULL"),
        "{text}"
    );

    let fixture = Fixture::new();
    fixture.migration(1, "t", base.0, base.1).migration(
        2,
        "drop_e",
        up,
        &format!(
            "-- xtask: rollback-data-hazard -- e is only ever dropped on empty installs\n{down}"
        ),
    );
    let (code, report) = roundtrip(&fixture);
    assert_eq!(code, 0, "{report:#}");
    let acknowledged = &report["migrations"][1];
    assert_eq!(acknowledged["result"], "passed");
    assert_eq!(acknowledged["cause"], "data");
    assert_eq!(
        acknowledged["acknowledged"],
        "e is only ever dropped on empty installs"
    );

    // A down that fails on empty tables too is a defect, whatever the rows.
    let fixture = Fixture::new();
    fixture.migration(1, "t", base.0, base.1).migration(
        2,
        "broken",
        up,
        "ALTER TABLE t ADD COLUMN e int REFERENCES nowhere;",
    );
    let (code, report) = roundtrip(&fixture);
    assert_eq!(code, 1);
    assert_eq!(report["migrations"][1]["cause"], "schema", "{report:#}");
    assert!(report["migrations"][1]["hazard"].is_null());
}

#[test]
fn text_nobody_can_observe_warns_instead_of_failing() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "base",
            "CREATE TABLE t (id int PRIMARY KEY, a int, b int);
             CREATE VIEW every_t AS SELECT * FROM t;
             CREATE VIEW recent AS SELECT id FROM t WHERE now() > 'now'::timestamp;
             CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND $$;",
            "DROP FUNCTION f(); DROP VIEW recent; DROP VIEW every_t; DROP TABLE t;",
        )
        .migration(
            2,
            "reshape",
            "DROP VIEW every_t; ALTER TABLE t DROP COLUMN a; CREATE VIEW every_t AS SELECT * FROM t;
             DROP VIEW recent; CREATE VIEW recent AS SELECT id FROM t WHERE now() > 'now'::timestamp;
             CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 2;\nEND $$;",
            "DROP VIEW every_t; ALTER TABLE t ADD COLUMN a int; CREATE VIEW every_t AS SELECT * FROM t;
             SELECT pg_sleep(0.01);
             DROP VIEW recent; CREATE VIEW recent AS SELECT id FROM t WHERE now() > 'now'::timestamp;
             CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN \n  RETURN 1;\nEND $$;",
        );
    let (code, report) = roundtrip(&fixture);
    assert_eq!(code, 0, "{report:#}");
    let warnings = report["migrations"][1]["warnings"].to_string();
    for needle in [
        "view every_t: definition lists the same columns in another order",
        "function f(): definition differs only in whitespace, from line",
        "view recent: definition differs only in a date or time literal",
    ] {
        assert!(warnings.contains(needle), "{needle:?} in {warnings}");
    }
}
