//! Batched data migrations on a primary with a streaming standby (two clusters of the test's
//! own, on ports 5461 and 5462): they pause between batches while the standby lags, resume when
//! it catches up, and stop, resumable, when it stays gone longer than --replica-wait.

mod support;

#[allow(dead_code)] // the benchmark uses what these tests do not
#[path = "../src/plumbing/replica_pair.rs"]
mod replica_pair;

use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use replica_pair::Cluster;
use support::Fixture;

const ROWS: i64 = 5_000;

/// The two tests share the ports: one pair at a time.
static PORTS: Mutex<()> = Mutex::new(());

struct Pair {
    // Dropped in this order: the standby first, then its primary.
    standby: Cluster,
    primary: Cluster,
}

fn pair() -> Pair {
    let primary = Cluster::primary("bomizzel_test_primary", 5461).expect("primary cluster");
    let standby =
        Cluster::standby("bomizzel_test_standby", 5462, &primary).expect("standby cluster");
    Pair { standby, primary }
}

/// On the primary: counters at 0, and a batched migration adding 1 to each, in many small
/// batches (about 10 rows each, 20 ms apart), so the run is long enough to act on mid-way.
fn counter_fixture(pair: &Pair) -> Fixture {
    let fixture = Fixture::on(&pair.primary.url);
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
            "-- xtask: batched counters id batch-time=1ms batch-size=10 pause=20ms\nUPDATE counters SET hits = hits + 1 WHERE id > $1 AND id <= $2;",
            "-- xtask: batched counters id\nUPDATE counters SET hits = hits - 1 WHERE id > $1 AND id <= $2;",
        );
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    fixture
}

/// `migrate` in the background, its output going to files in the fixture's folder.
fn spawn_migrate(fixture: &Fixture, args: &[&str]) -> Child {
    let mut command = fixture.command(&[&["migrate"], args].concat());
    command
        .env("DATABASE_URL", fixture.db.url().secret_conninfo())
        .stdout(std::fs::File::create(fixture.work.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(fixture.work.path().join("stderr")).unwrap());
    command.spawn().unwrap()
}

fn output(fixture: &Fixture, stream: &str) -> String {
    std::fs::read_to_string(fixture.work.path().join(stream)).unwrap_or_default()
}

/// (batches, rows_done, finished) of the batched run, once it has a progress row.
fn progress(fixture: &Fixture) -> Option<(i32, i64, bool)> {
    fixture
        .client()
        .query_opt(
            "SELECT batches, rows_done, finished_at IS NOT NULL FROM bomizzel_backfill_progress WHERE version = 2",
            &[],
        )
        .unwrap()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
}

/// Polls `condition` (a bound on waiting, not an assertion on time).
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (rows, rows counted once, rows counted more than once).
fn hits(fixture: &Fixture) -> (i64, i64, i64) {
    let row = fixture
        .client()
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE hits = 1), count(*) FILTER (WHERE hits > 1) FROM counters",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn a_backfill_pauses_between_batches_while_replay_is_paused_and_finishes_after_it_resumes() {
    let _ports = PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pair = pair();
    let fixture = counter_fixture(&pair);
    // 3 s: far above what a standby replaying this run's small batches lags on its own, so the
    // pause it reports can only come from the paused replay.
    let child = spawn_migrate(
        &fixture,
        &["--max-replica-lag", "3s", "--replica-wait", "10m"],
    );
    wait_until("the first batches", || {
        progress(&fixture).is_some_and(|(batches, _, _)| batches >= 2)
    });
    let mut standby = pair.standby.url.connect("bomizzel-test").unwrap();
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .unwrap();

    wait_until("the run to say it paused", || {
        output(&fixture, "stdout").contains("paused after batch")
    });
    the_pause_says_why_and_names_its_batch(&fixture);

    standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .unwrap();
    every_row_is_written_once_after_the_resume(&fixture, child);

    the_standby_is_seen_at_the_head(&fixture);
}

/// The pause says why, and the run stopped between batches, right after the one it names.
fn the_pause_says_why_and_names_its_batch(fixture: &Fixture) {
    let stdout = output(fixture, "stdout");
    let line = stdout
        .lines()
        .find(|line| line.contains("paused after batch"))
        .unwrap();
    assert!(
        line.contains("standby")
            && line.contains("behind")
            && line.contains("--max-replica-lag 3s"),
        "the pause says why: {line}"
    );
    let after: i32 = line
        .split("paused after batch ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a batch number in {line}"));
    let (batches, _, finished) = progress(fixture).unwrap();
    assert_eq!(
        (batches, finished),
        (after, false),
        "stopped between batches, right after the one it names"
    );
}

/// The run ends, says it resumed, wrote every row exactly once and logged both.
fn every_row_is_written_once_after_the_resume(fixture: &Fixture, mut child: Child) {
    let status = child.wait().unwrap();
    let (stdout, stderr) = (output(fixture, "stdout"), output(fixture, "stderr"));
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("resumed after"),
        "the resume is said: {stdout}"
    );
    assert_eq!(
        hits(fixture),
        (ROWS, ROWS, 0),
        "every row exactly once: {stdout}"
    );
    assert!(
        fixture
            .log()
            .contains("\"outcome\":\"paused_for_standbys\"")
            && fixture.log().contains("\"outcome\":\"resumed\""),
        "the log has the pause and the resume: {}",
        fixture.log()
    );
}

/// The standby, as the primary sees it and through its own history table.
fn the_standby_is_seen_at_the_head(fixture: &Fixture) {
    let on_standby = format!("postgres://postgres@127.0.0.1:5462/{}", fixture.db.name());
    let health = fixture.xtask(&["health-check", "--standby-url", &on_standby]);
    health.assert_ok();
    let line = health
        .stdout
        .lines()
        .find(|line| line.contains("standbys replayed the schema version"))
        .unwrap_or_else(|| panic!("{health}"));
    assert!(
        line.starts_with("ok")
            && line.contains("15/bomizzel_test_standby at 127.0.0.1: replayed version 2")
            && line.contains(":5462/bomizzel_test_")
            && line.contains("(standby): at version 2"),
        "{line}"
    );
    let on_the_standby = fixture.xtask_with(&["health-check"], &on_standby.parse().unwrap());
    on_the_standby.assert_ok();
    assert!(
        on_the_standby
            .stdout
            .contains("this server is a standby (at version 2)"),
        "checked on a standby itself: {on_the_standby}"
    );
    let verify = fixture.xtask(&["verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    let standbys = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "standbys replayed the schema version")
        .unwrap_or_else(|| panic!("{verify}"));
    assert_eq!(standbys["passed"], true, "{verify}");
}

#[test]
fn a_backfill_stops_resumably_when_the_standby_stays_gone_longer_than_replica_wait() {
    let _ports = PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pair = pair();
    let fixture = counter_fixture(&pair);
    let mut child = spawn_migrate(
        &fixture,
        &["--max-replica-lag", "1s", "--replica-wait", "2s"],
    );
    wait_until("the first batches", || {
        progress(&fixture).is_some_and(|(batches, _, _)| batches >= 2)
    });
    pair.standby.ctl("stop").unwrap();
    let health = fixture.xtask(&[
        "health-check",
        "--standby-url",
        &pair
            .standby
            .url
            .with_database(fixture.db.name())
            .to_string(),
    ]);
    assert_eq!(health.code, 1, "{health}");
    assert!(
        health.stdout.contains(
            "FAIL  standbys replayed the schema version: postgres://postgres@127.0.0.1:5462/"
        ),
        "an unreachable standby fails the check: {health}"
    );
    let status = child.wait().unwrap();
    let run = support::Run {
        code: status.code().unwrap_or(-1),
        stdout: output(&fixture, "stdout"),
        stderr: output(&fixture, "stderr"),
    };
    run.assert_user_error(&[
        "V0002__count_once.sql: batched data migration stopped",
        "left pg_stat_replication",
        "gave up after waiting 2s for the standbys (--replica-wait)",
        "the next migrate resumes after them",
    ]);
    let (_, rows_done, finished) = progress(&fixture).unwrap();
    assert!(!finished && rows_done > 0 && rows_done < ROWS, "{run}");
    assert_eq!(
        hits(&fixture),
        (ROWS, rows_done, 0),
        "exactly the committed batches are done"
    );

    // A new run watches the standbys it finds: none now.
    fixture.xtask(&["migrate"]).assert_ok();
    assert_eq!(hits(&fixture), (ROWS, ROWS, 0), "resumed, every row once");
}
