//! `check-migrations` runs every step and fails on a broken rollback.

use serde_json::Value;

use super::{BASE, BASE_DOWN};
use crate::support::Fixture;

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
