//! Batched data migrations: every row exactly once, resumable after a kill, reversible.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::Fixture;

const ROWS: i64 = 20_000;

/// A table of ROWS rows with a counter at 0, and a batched migration that adds 1 to it.
fn counter_fixture(options: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "create_counters",
            &format!(
                "CREATE TABLE counters (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hits int NOT NULL DEFAULT 0);
                 INSERT INTO counters (hits) SELECT 0 FROM generate_series(1, {ROWS});"
            ),
            "DROP TABLE counters;",
        )
        .migration(
            2,
            "count_once",
            &format!("-- xtask: batched counters id {options}\nUPDATE counters SET hits = hits + 1 WHERE id > $1 AND id <= $2;"),
            &format!("-- xtask: batched counters id {options}\nUPDATE counters SET hits = hits - 1 WHERE id > $1 AND id <= $2;"),
        );
    fixture
}

/// (rows, min hits, max hits).
fn hits(fixture: &Fixture) -> (i64, i32, i32) {
    let row = fixture
        .client()
        .query_one("SELECT count(*), min(hits), max(hits) FROM counters", &[])
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn every_row_is_transformed_exactly_once_in_many_batches_and_the_down_restores() {
    let fixture = counter_fixture("batch-time=5ms batch-size=500");
    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(run.stdout.contains("up V0002__count_once"), "{run}");
    assert_eq!(hits(&fixture), (ROWS, 1, 1));
    let progress = fixture
        .client()
        .query_one(
            "SELECT rows_done, batches, finished_at IS NOT NULL FROM bomizzel_backfill_progress WHERE version = 2",
            &[],
        )
        .unwrap();
    assert_eq!(progress.get::<_, i64>(0), ROWS);
    assert!(progress.get::<_, i32>(1) > 1, "many batches");
    assert!(progress.get::<_, bool>(2));

    let status = fixture.xtask(&["backfill", "status"]);
    status.assert_ok();
    assert!(
        status
            .stdout
            .contains("V0002__count_once up   counters finished"),
        "{status}"
    );
    let again = fixture.xtask(&["migrate"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("up to date"),
        "re-running a finished one does nothing: {again}"
    );
    assert_eq!(hits(&fixture), (ROWS, 1, 1));

    fixture.xtask(&["rollback"]).assert_ok();
    assert_eq!(
        hits(&fixture),
        (ROWS, 0, 0),
        "the batched down restores every row"
    );
    fixture.xtask(&["migrate"]).assert_ok();
    assert_eq!(
        hits(&fixture),
        (ROWS, 1, 1),
        "applied again from the start, once"
    );
}

#[test]
fn a_run_killed_midway_resumes_without_redoing_or_skipping_rows() {
    let fixture = counter_fixture("batch-time=5ms batch-size=100 pause=20ms");
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    let mut command = fixture.command(&["migrate"]);
    command
        .env("DATABASE_URL", fixture.db.url().secret_conninfo())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    let done = loop {
        let done: Option<i64> = fixture
            .client()
            .query_opt(
                "SELECT rows_done FROM bomizzel_backfill_progress WHERE version = 2",
                &[],
            )
            .unwrap()
            .map(|row| row.get(0));
        if done.is_some_and(|done| done >= 1000) {
            break done.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the batched run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let (rows, _, _) = hits(&fixture);
    let touched: i64 = fixture
        .client()
        .query_one("SELECT count(*) FROM counters WHERE hits = 1", &[])
        .unwrap()
        .get(0);
    assert!(
        touched >= done && touched < rows,
        "killed midway: {touched} of {rows} done"
    );
    let status = fixture.xtask(&["status", "--format", "json"]);
    assert!(
        status.stdout.contains("\"failed\""),
        "an interrupted run shows as failed: {status}"
    );

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert_eq!(
        hits(&fixture),
        (ROWS, 1, 1),
        "every row exactly once after the resume"
    );
}

#[test]
fn a_batched_migration_on_a_table_without_an_integer_key_is_refused_clearly() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "create_tags", "CREATE TABLE tags (name text PRIMARY KEY); INSERT INTO tags VALUES ('a');", "DROP TABLE tags;")
        .migration(
            2,
            "touch_tags",
            "-- xtask: batched tags name\nUPDATE tags SET name = name WHERE name > $1 AND name <= $2;",
            "SELECT 1;",
        );
    fixture.xtask(&["migrate"]).assert_user_error(&[
        "V0002__touch_tags.sql: batched data migration stopped",
        "key tags.name is text",
    ]);
}

#[test]
fn a_batch_that_loses_a_deadlock_is_retried_and_does_its_rows_once() {
    let fixture = counter_fixture("batch-size=100000");
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    let mut other = fixture.client();
    // The runner's session looks for deadlocks after 200 ms of waiting, this one only after a
    // minute: PostgreSQL fails the side that looks first, so the batch is always the one it fails.
    other
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET deadlock_timeout = '200ms'",
            fixture.db.url().database()
        ))
        .unwrap();
    other
        .batch_execute(&format!(
            "SET deadlock_timeout = '1min'; BEGIN; SELECT FROM counters WHERE id = {ROWS} FOR UPDATE"
        ))
        .unwrap();
    let mut command = fixture.command(&["migrate", "--retry-backoff", "100ms"]);
    command.env("DATABASE_URL", fixture.db.url().secret_conninfo());
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The batch has updated every row but the last, which it waits for.
    let started = Instant::now();
    while !fixture
        .client()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE counters SET hits = hits + 1%')",
            &[],
        )
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the batch never waited for the locked row"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Now the other session waits for the first row, which the batch holds: a deadlock.
    other
        .execute("UPDATE counters SET hits = hits WHERE id = 1", &[])
        .unwrap();
    other.batch_execute("COMMIT").unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("lock timeout (attempt 1), retrying"),
        "{stdout}"
    );
    let log = fixture.log();
    assert!(
        log.contains("\"outcome\":\"retrying\"") && log.contains("40P01"),
        "the retry is logged with the deadlock: {log}"
    );
    assert_eq!(hits(&fixture), (ROWS, 1, 1), "every row exactly once");
}
