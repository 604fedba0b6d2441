//! The rollback round-trip: every kind of broken rollback is caught, correct histories pass.

use super::{broken_rollback_fixture, roundtrip, BASE, BASE_DOWN};
use crate::support::Fixture;

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
