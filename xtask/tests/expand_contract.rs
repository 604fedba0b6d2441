//! `new --expand-contract`: each scaffold's sequence lints, applies, keeps old and new in step
//! while both exist, and round-trips.

mod support;

use support::Fixture;

fn scaffolded(args: &[&str]) -> Fixture {
    let fixture = Fixture::with_project_migrations();
    fixture.xtask(&["schema", "dump"]).assert_ok();
    let mut command = vec!["new", "--expand-contract"];
    command.extend_from_slice(args);
    let run = fixture.xtask(&command);
    run.assert_ok();
    fixture
}

fn head() -> i32 {
    migrations::embedded_head().unwrap()
}

/// Lint passes (the contract step is acknowledged), migrate applies, the round-trip passes.
fn lints_applies_and_round_trips(fixture: &Fixture) {
    let lint = fixture.xtask(&["lint", fixture.dir().to_str().unwrap(), "--format", "json"]);
    lint.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&lint.stdout).unwrap();
    for file in report["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        if file["version"].as_i64().unwrap() > i64::from(head())
            && !path.ends_with(".down.sql")
            && !path.contains("contract")
        {
            assert_eq!(file["risk"], "safe", "{path}: {file:#}");
        }
    }
    fixture.xtask(&["migrate"]).assert_ok();
    let from = (head() + 1).to_string();
    let run = fixture.xtask(&["test-rollback-roundtrip", "--from", &from]);
    run.assert_ok();
}

#[test]
fn rename_column_keeps_both_columns_in_step_then_contracts() {
    let fixture = scaffolded(&["rename-column", "tickets.description", "details"]);
    let next = head() + 1;
    for (offset, name) in [
        "expand_tickets_details",
        "backfill_tickets_details",
        "contract_tickets_description",
    ]
    .iter()
    .enumerate()
    {
        let file = fixture
            .dir()
            .join(format!("V{:04}__{name}.sql", next + offset as i32));
        assert!(file.is_file(), "{}", file.display());
    }
    let contract = std::fs::read_to_string(fixture.dir().join(format!(
        "V{:04}__contract_tickets_description.sql",
        next + 2
    )))
    .unwrap();
    assert!(contract.contains("APPLY ONLY AFTER step 4"), "{contract}");

    // Apply expand and backfill only: both columns live, as during the switch.
    fixture
        .xtask(&["migrate", "--target", &(next + 1).to_string()])
        .assert_ok();
    let mut client = fixture.client();
    both_columns_stay_in_step(&mut client);
    fixture
        .xtask(&["rollback", "--to", &head().to_string()])
        .assert_ok();
    lints_applies_and_round_trips(&fixture);
    let columns: Vec<String> = client
        .query("SELECT attname::text FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        columns.contains(&"details".to_owned()) && !columns.contains(&"description".to_owned()),
        "{columns:?}"
    );
}

/// Rows written by the old and the new version, then each updated through the other's column:
/// both columns always hold the same text.
fn both_columns_stay_in_step(client: &mut postgres::Client) {
    client
        .batch_execute(
            "INSERT INTO users (email, display_name) VALUES ('a@b.c', 'A');
             INSERT INTO queues (name) VALUES ('q');
             INSERT INTO tickets (title, description, requester_id, queue_id)
                 SELECT 'old app', 'written by the old version', u.id, q.id FROM users u, queues q;
             INSERT INTO tickets (title, details, requester_id, queue_id)
                 SELECT 'new app', 'written by the new version', u.id, q.id FROM users u, queues q;",
        )
        .unwrap();
    for (title, old, new) in description_and_details(client) {
        assert_eq!(old, new, "{title}: both columns hold the same text");
    }
    client
        .batch_execute(
            "UPDATE tickets SET details = 'changed by the new version' WHERE title = 'old app'",
        )
        .unwrap();
    client
        .batch_execute(
            "UPDATE tickets SET description = 'changed by the old version' WHERE title = 'new app'",
        )
        .unwrap();
    for (title, old, new) in description_and_details(client) {
        assert_eq!(
            old, new,
            "{title}: an update to either column reaches the other"
        );
    }
}

/// Every ticket's (title, description, details), in insertion order.
fn description_and_details(client: &mut postgres::Client) -> Vec<(String, String, String)> {
    client
        .query(
            "SELECT title, description, details FROM tickets ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

#[test]
fn change_type_set_not_null_and_rename_table_sequences_apply_and_round_trip() {
    lints_applies_and_round_trips(&scaffolded(&[
        "change-type",
        "comments.body",
        "varchar(4000)",
    ]));
    lints_applies_and_round_trips(&scaffolded(&["set-not-null", "tickets.assignee_id"]));
    lints_applies_and_round_trips(&scaffolded(&[
        "rename-table",
        "comments",
        "ticket_comments",
    ]));
}

#[test]
fn a_column_a_view_reads_is_refused_naming_the_view() {
    let fixture = Fixture::with_project_migrations();
    fixture.xtask(&["schema", "dump"]).assert_ok();
    fixture
        .xtask(&[
            "new",
            "--expand-contract",
            "rename-column",
            "tickets.title",
            "subject",
        ])
        .assert_user_error(&["tickets.title is read by view open_tickets_by_queue"]);
    fixture
        .xtask(&[
            "new",
            "--expand-contract",
            "rename-column",
            "tickets.nope",
            "x",
        ])
        .assert_user_error(&["table tickets has no column nope"]);
    // A malformed argument is wrong usage, not a schema the snapshot lacks.
    fixture
        .xtask(&["new", "--expand-contract", "rename-column", "tickets", "x"])
        .assert_usage_error(&["`tickets` is not TABLE.COLUMN"]);
    fixture
        .xtask(&[
            "new",
            "--expand-contract",
            "set-not-null",
            "tickets.title",
            "x",
        ])
        .assert_usage_error(&["usage: new --expand-contract"]);
}
