//! `cargo xtask repair` settles a failed migration when the schema agrees, records a forced
//! claim, and is wrong usage without exactly one claim and a reason.

use super::{index_state, items_and_index, log_lines, state_of, INDEX_FILE};
use crate::support::Fixture;

const UNIQUE_INDEX: &str = "CREATE UNIQUE INDEX CONCURRENTLY items_value ON items (value);";

/// V2 failed on duplicate values, leaving an INVALID index.
fn failed_unique_index() -> Fixture {
    let fixture = items_and_index(UNIQUE_INDEX);
    fixture
        .xtask(&["migrate"])
        .assert_user_error(&[INDEX_FILE, "could not create unique index"]);
    assert_eq!(state_of(&fixture, 2), "failed");
    fixture
}

#[test]
fn repair_settles_a_failed_migration_when_the_schema_agrees() {
    let fixture = failed_unique_index();
    fixture
        .xtask(&["repair", "2", "--applied", "--reason", "built by hand"])
        .assert_user_error(&[
            "refusing to record V0002__index_items_value as applied",
            "public.items_value is INVALID",
            "--force",
        ]);
    assert_eq!(state_of(&fixture, 2), "failed", "a refusal changes nothing");

    let run = fixture.xtask(&[
        "repair",
        "2",
        "--not-applied",
        "--reason",
        "duplicates are removed first",
        "--format",
        "json",
    ]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["settled_as"], "not_applied");
    assert_eq!(report["forced"], false);
    assert_eq!(report["reason"], "duplicates are removed first");
    assert_eq!(index_state(&fixture), (false, false), "leftover dropped");
    assert_eq!(state_of(&fixture, 2), "pending");
    let repaired = log_lines(&fixture)
        .into_iter()
        .find(|line| line["command"] == "repair" && line["outcome"] == "repaired")
        .expect("the repair is in the migration log");
    assert_eq!(repaired["reason"], "duplicates are removed first");
    assert_eq!(repaired["settled_as"], "not_applied");
    assert!(repaired["applied_by"].as_str().unwrap().contains('@'));

    // It fails again; someone removes the duplicates and builds an index by hand.
    fixture.xtask(&["migrate"]).assert_user_error(&[INDEX_FILE]);
    let mut client = fixture.client();
    client
        .batch_execute(
            "DELETE FROM items WHERE id > 100; DROP INDEX items_value;
             CREATE UNIQUE INDEX items_value ON items (value, id);",
        )
        .unwrap();
    fixture
        .xtask(&["repair", "2", "--applied", "--reason", "built by hand"])
        .assert_user_error(&["exists but is not what", "(value, id)"]);
    client
        .batch_execute("DROP INDEX items_value; CREATE UNIQUE INDEX items_value ON items (value);")
        .unwrap();
    let run = fixture.xtask(&["repair", "2", "--applied", "--reason", "built by hand"]);
    run.assert_ok();
    assert!(
        run.stdout.contains(
            "V0002__index_items_value: recorded as applied (index public.items_value is valid"
        ),
        "{run}"
    );
    assert_eq!(state_of(&fixture, 2), "applied");
    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date at version 2"), "{run}");

    fixture
        .xtask(&["repair", "2", "--applied", "--reason", "again"])
        .assert_user_error(&["has no failed or unfinished run to repair"]);
}

#[test]
fn repair_force_records_a_claim_the_schema_contradicts() {
    let fixture = failed_unique_index();
    let run = fixture.xtask(&[
        "repair",
        "2",
        "--applied",
        "--force",
        "--reason",
        "the index is not needed after all",
    ]);
    run.assert_ok();
    assert!(run.stdout.contains("recorded as applied, forced"), "{run}");
    assert_eq!(state_of(&fixture, 2), "applied");
    assert!(log_lines(&fixture)
        .iter()
        .any(|line| line["outcome"] == "repaired_forced"
            && line["reason"] == "the index is not needed after all"));
}

#[test]
fn repair_is_wrong_usage_without_exactly_one_claim_and_a_reason() {
    let fixture = Fixture::new();
    for args in [
        &["repair", "2", "--applied", "--not-applied", "--reason", "x"][..],
        &["repair", "2", "--reason", "x"],
        &["repair", "2", "--applied"],
        &["repair", "2", "--applied", "--reason", ""],
        &["repair", "two", "--applied", "--reason", "x"],
    ] {
        let run = fixture.xtask(args);
        assert_eq!(run.code, 2, "{args:?}:\n{run}");
    }
}
