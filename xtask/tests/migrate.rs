//! `cargo xtask migrate | rollback | status | new` against the real PostgreSQL server.

mod support;

use support::Fixture;

fn status_json(fixture: &Fixture) -> serde_json::Value {
    let run = fixture.xtask(&["status", "--format", "json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}:\n{run}"))
}

fn states(fixture: &Fixture) -> Vec<(i64, String)> {
    status_json(fixture)["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn state_of(fixture: &Fixture, version: i64) -> String {
    states(fixture)
        .into_iter()
        .find(|(v, _)| *v == version)
        .unwrap()
        .1
}

#[test]
fn fresh_database_migrates_to_head_and_refinery_agrees() {
    let fixture = Fixture::with_project_migrations();
    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(run.stdout.contains("up V0001__create_users ... "), "{run}");
    let head = migrations::embedded_head().unwrap();
    assert!(
        run.stdout
            .contains(&format!("is at version {head} ({head} applied in")),
        "{run}"
    );
    assert_eq!(fixture.applied(), (1..=head).collect::<Vec<_>>());
    assert!(states(&fixture).iter().all(|(_, state)| state == "applied"));

    // refinery's own runner, over the embedded copies of the same files, sees nothing to do and
    // no divergence: both tools read the same history.
    let mut client = fixture.client();
    let report = migrations::refinery_runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run(&mut client)
        .expect("refinery accepts our history");
    assert!(report.applied_migrations().is_empty());
    let last = migrations::refinery_runner()
        .get_last_applied_migration(&mut client)
        .unwrap();
    assert_eq!(last.map(|m| m.version()), migrations::embedded_head());

    let again = fixture.xtask(&["migrate"]);
    again.assert_ok();
    assert!(
        again
            .stdout
            .contains(&format!("is up to date at version {head}")),
        "{again}"
    );

    // Every applied step is in the log, as JSON.
    let lines: Vec<serde_json::Value> = fixture
        .log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), head as usize);
    assert_eq!(lines[2]["version"], 3);
    assert_eq!(lines[2]["name"], "create_tickets");
    assert_eq!(lines[2]["direction"], "up");
    assert_eq!(lines[2]["outcome"], "applied");
    assert_eq!(lines[2]["command"], "migrate");
    assert!(lines[2]["duration_ms"].is_u64() && lines[2]["time"].is_string());
}

#[test]
fn target_stops_at_the_given_version() {
    let fixture = Fixture::with_project_migrations();
    fixture.xtask(&["migrate", "--target", "3"]).assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2, 3]);
    assert_eq!(state_of(&fixture, 4), "pending");
    fixture
        .xtask(&["migrate", "--target", "42"])
        .assert_user_error(&["target version 42 is not a migration"]);
    fixture.xtask(&["migrate"]).assert_ok();
    fixture
        .xtask(&["migrate", "--target", "2"])
        .assert_user_error(&["below the current version", "rollback --to 2"]);
}

#[test]
fn rollback_one_then_everything_back_to_an_empty_schema() {
    let fixture = Fixture::with_project_migrations();
    let head = migrations::embedded_head().unwrap();
    let before = fixture.objects();
    assert!(before.is_empty(), "{before:?}");
    fixture.xtask(&["migrate"]).assert_ok();
    let view = "v open_tickets_by_queue".to_owned();
    assert!(fixture.objects().contains(&view));

    let run = fixture.xtask(&["rollback"]);
    run.assert_ok();
    assert!(run.stdout.contains(&format!("down V{head:04}__")), "{run}");
    assert_eq!(fixture.applied(), (1..head).collect::<Vec<_>>());

    fixture.xtask(&["rollback", "--to", "6"]).assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2, 3, 4, 5, 6]);
    let run = fixture.xtask(&["rollback", "--steps", "1"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("down V0006__create_open_tickets_by_queue"),
        "{run}"
    );
    assert!(!fixture.objects().contains(&view));

    fixture.xtask(&["rollback", "--steps", "2"]).assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2, 3]);

    // The no-transaction down (DROP INDEX CONCURRENTLY) ran on the way: migrate back up and down.
    fixture.xtask(&["migrate"]).assert_ok();
    fixture.xtask(&["rollback", "--to", "0"]).assert_ok();
    assert!(fixture.applied().is_empty());
    assert_eq!(
        fixture.objects(),
        before,
        "rollback --to 0 leaves an empty schema"
    );
    fixture
        .xtask(&["rollback"])
        .assert_user_error(&["nothing to roll back"]);
    assert!(fixture.log().contains("\"outcome\":\"rolled_back\""));
}

#[test]
fn status_shows_every_state() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "one", "CREATE TABLE one (id int);", "DROP TABLE one;")
        .migration(2, "two", "CREATE TABLE two (id int);", "DROP TABLE two;")
        .migration(
            3,
            "three",
            "CREATE TABLE three (id int);",
            "DROP TABLE three;",
        )
        .migration(
            4,
            "unique_index",
            "-- xtask: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY one_id_key ON one (id);",
            "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY one_id_key;",
        )
        .migration(5, "five", "CREATE TABLE five (id int);", "DROP TABLE five;");
    fixture.xtask(&["migrate", "--target", "3"]).assert_ok();
    fixture
        .client()
        .batch_execute("INSERT INTO one VALUES (1), (1)")
        .unwrap();
    fixture
        .xtask(&["migrate"])
        .assert_user_error(&["V0004__unique_index.sql", "could not create unique index"]);
    // modified: an applied file edited; missing: an applied file deleted.
    fixture.write(
        "V0002__two.sql",
        "-- Purpose: edited\nCREATE TABLE two (id bigint);\n",
    );
    fixture.remove("V0003__three.sql");
    fixture.remove("V0003__three.down.sql");

    let report = status_json(&fixture);
    assert_eq!(report["database"], fixture.db.url().redacted());
    let got: Vec<(i64, String)> = states(&fixture);
    assert_eq!(
        got,
        vec![
            (1, "applied".to_owned()),
            (2, "modified".to_owned()),
            (3, "missing".to_owned()),
            (4, "failed".to_owned()),
            (5, "pending".to_owned()),
        ]
    );
    let failed = &report["migrations"][3];
    assert_eq!(failed["name"], "unique_index");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("INVALID index public.one_id_key"), "{error}");
    let applied = &report["migrations"][0];
    assert!(applied["applied_at"].is_string() && applied["duration_ms"].is_i64());
    assert!(report["migrations"][4]["applied_at"].is_null());

    let text = fixture.xtask(&["status"]);
    text.assert_ok();
    assert!(
        text.stdout
            .contains("5 migrations: 1 applied, 1 pending, 1 modified, 1 missing, 1 failed"),
        "{text}"
    );
    fixture
        .xtask(&["status", "--check"])
        .assert_user_error(&["V0005__five is pending", "V0004__unique_index is failed"]);
}

#[test]
fn status_check_passes_only_when_everything_is_applied() {
    let fixture = Fixture::with_project_migrations();
    fixture
        .xtask(&["status", "--check"])
        .assert_user_error(&["V0001__create_users is pending"]);
    fixture.xtask(&["migrate"]).assert_ok();
    fixture.xtask(&["status", "--check"]).assert_ok();
}

#[test]
fn a_failed_concurrent_index_is_cleaned_up_and_finished_by_the_next_migrate() {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "one",
            "CREATE TABLE one (id int);\nINSERT INTO one VALUES (1), (1);",
            "DROP TABLE one;",
        )
        .migration(
            2,
            "unique_index",
            "-- xtask: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY one_id_key ON one (id);",
            "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY one_id_key;",
        );
    let run = fixture.xtask(&["migrate"]);
    run.assert_user_error(&[
        "V0002__unique_index.sql: could not create unique index \"one_id_key\"",
        "left behind: INVALID index public.one_id_key",
    ]);
    assert_eq!(fixture.applied(), vec![1]);

    fixture
        .client()
        .batch_execute("DELETE FROM one WHERE ctid = (SELECT max(ctid) FROM one)")
        .unwrap();
    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("dropped INVALID index public.one_id_key left by the failed run"),
        "{run}"
    );
    assert_eq!(fixture.applied(), vec![1, 2]);
    let valid: bool = fixture
        .client()
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'one_id_key'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(valid);
    assert_eq!(state_of(&fixture, 2), "applied");
}

#[test]
fn a_failing_migration_leaves_no_trace() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "good", "CREATE TABLE good (id int);", "DROP TABLE good;")
        .migration(
            2,
            "bad",
            "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nALTER TABLE half ADD COLUMN x nosuchtype;",
            "DROP TABLE half;",
        );
    let run = fixture.xtask(&["migrate"]);
    run.assert_user_error(&[
        "V0002__bad.sql:7:31",
        "type \"nosuchtype\" does not exist",
        "SQLSTATE 42704",
    ]);
    assert!(run.stdout.contains("up V0001__good ... "), "{run}");
    assert_eq!(fixture.applied(), vec![1], "the good one stays applied");
    assert_eq!(
        fixture.objects(),
        vec!["r good".to_owned()],
        "nothing of the bad one remains"
    );
    assert_eq!(
        state_of(&fixture, 2),
        "pending",
        "a transactional failure leaves no state row"
    );
    assert!(
        fixture.log().contains("\"outcome\":\"failed\""),
        "{}",
        fixture.log()
    );
}

#[test]
fn a_migration_that_commits_on_its_own_is_caught() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "sneaky",
        "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);",
        "DROP TABLE b; DROP TABLE a;",
    );
    fixture
        .xtask(&["migrate"])
        .assert_user_error(&["V0001__sneaky.sql: left the migration's transaction"]);
    assert!(fixture.applied().is_empty(), "never recorded as applied");
}

#[test]
fn refuses_modified_missing_and_out_of_order_before_touching_anything() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "one", "CREATE TABLE one (id int);", "DROP TABLE one;")
        .migration(
            3,
            "three",
            "CREATE TABLE three (id int);",
            "DROP TABLE three;",
        );
    fixture.xtask(&["migrate"]).assert_ok();
    fixture.migration(4, "four", "CREATE TABLE four (id int);", "DROP TABLE four;");

    // Out of order: 2 arrives after 3 was applied.
    fixture.migration(2, "two", "CREATE TABLE two (id int);", "DROP TABLE two;");
    fixture.xtask(&["migrate"]).assert_user_error(&[
        "V0002__two.sql is pending but the newer V0003__three is already applied",
        "--allow-out-of-order",
    ]);
    assert_eq!(fixture.applied(), vec![1, 3], "4 was not applied either");
    fixture
        .xtask(&["migrate", "--allow-out-of-order"])
        .assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2, 3, 4]);

    fixture.migration(5, "five", "CREATE TABLE five (id int);", "DROP TABLE five;");
    let original = std::fs::read_to_string(fixture.dir().join("V0001__one.sql")).unwrap();
    fixture.write("V0001__one.sql", &original.replace("id int", "id bigint"));
    fixture.xtask(&["migrate"]).assert_user_error(&[
        "V0001__one.sql was edited after it was applied on 20",
        "revert the edit, or add a new migration",
    ]);
    fixture
        .xtask(&["rollback", "--to", "0"])
        .assert_user_error(&["cannot roll back V0001__one", "edited after it was applied"]);
    assert_eq!(
        fixture.applied(),
        vec![1, 2, 3, 4],
        "a refused rollback reverts nothing"
    );
    fixture.write("V0001__one.sql", &original);

    fixture.remove("V0003__three.sql");
    fixture.remove("V0003__three.down.sql");
    fixture
        .xtask(&["migrate"])
        .assert_user_error(&["V0003__three was applied on 20", "its file is missing"]);
    assert_eq!(fixture.applied(), vec![1, 2, 3, 4], "5 was never applied");
}

/// The project's own V0009/V0010 (case-insensitive email uniqueness) on accounts that hold one
/// address in two letter cases: refused by name, nothing of it applied, and no account touched;
/// once a person resolves the duplicate, the same command applies both.
#[test]
fn case_duplicate_emails_stop_the_email_index_until_resolved() {
    let fixture = Fixture::with_project_migrations();
    fixture.xtask(&["migrate", "--target", "8"]).assert_ok();
    let mut client = fixture.client();
    let ids: Vec<i64> = client
        .query(
            "INSERT INTO users (email, display_name) VALUES
                 ('Agent1@Probe.Test', 'First'), ('agent1@probe.test', 'Second'),
                 ('solo@probe.test', 'Alone')
             RETURNING id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let accounts = |client: &mut postgres::Client| -> Vec<(i64, String)> {
        client
            .query("SELECT id, email FROM users ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    };
    let before = accounts(&mut client);

    let refused = fixture.xtask(&["migrate", "--target", "10"]);
    refused.assert_user_error(&[
        "V0009__refuse_case_duplicate_emails.sql",
        &format!(
            "agent1@probe.test (user ids {}, {}: Agent1@Probe.Test, agent1@probe.test)",
            ids[0], ids[1]
        ),
    ]);
    assert!(!refused.stderr.contains("solo@probe.test"), "{refused}");
    assert_eq!(fixture.applied(), (1..=8).collect::<Vec<_>>());
    assert_eq!(state_of(&fixture, 9), "pending");
    assert_eq!(state_of(&fixture, 10), "pending");
    assert!(
        !fixture
            .objects()
            .contains(&"i users_email_lower_key".to_owned()),
        "{:?}",
        fixture.objects()
    );
    assert_eq!(
        accounts(&mut client),
        before,
        "the refusal changed accounts"
    );

    client
        .execute(
            "UPDATE users SET email = 'agent1+second@probe.test' WHERE id = $1",
            &[&ids[1]],
        )
        .unwrap();
    fixture.xtask(&["migrate", "--target", "10"]).assert_ok();
    assert_eq!(fixture.applied(), (1..=10).collect::<Vec<_>>());
    assert!(fixture
        .objects()
        .contains(&"i users_email_lower_key".to_owned()));
    let duplicate = client.execute(
        "INSERT INTO users (email, display_name) VALUES ('SOLO@probe.test', 'Again')",
        &[],
    );
    let refusal = duplicate.unwrap_err();
    assert_eq!(
        refusal.as_db_error().and_then(|error| error.constraint()),
        Some("users_email_lower_key"),
        "{refusal}"
    );
}
