//! The gates: rollback round-trip, schema snapshot, verify, check-migrations and import.

mod check_migrations;
mod import;
mod roundtrip;
mod snapshot;
#[path = "../support/mod.rs"]
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
