//! Runs that ended badly recover without SQL by hand: a runner killed during `CREATE INDEX
//! CONCURRENTLY` (finished, stopped half-way, still running), `cargo xtask repair`, a server
//! restarted during a migration, a connection lost right after COMMIT.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migrations::DatabaseUrl;
use postgres::Client;
use support::{Fixture, Run};

const INDEX_FILE: &str = "V0002__index_items_value.sql";

/// Items (V1, applied) and a concurrent index on them (V2, pending).
fn items_and_index(index: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_items",
        "CREATE TABLE items (id int PRIMARY KEY, value int NOT NULL);
         INSERT INTO items SELECT g, g % 100 FROM generate_series(1, 1000) g;",
        "DROP TABLE items;",
    );
    fixture.migration(
        2,
        "index_items_value",
        &format!("-- xtask: no-transaction\n{index}"),
        "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY items_value;",
    );
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    fixture
}

/// A transaction that has written to `items` and stays open: `CREATE INDEX CONCURRENTLY` waits
/// for it before it builds anything.
struct Blocker(Client);

impl Blocker {
    fn hold(fixture: &Fixture) -> Blocker {
        let mut client = fixture.client();
        client
            .batch_execute("BEGIN; LOCK TABLE items IN ROW EXCLUSIVE MODE")
            .unwrap();
        Blocker(client)
    }

    fn release(mut self) {
        self.0.batch_execute("COMMIT").unwrap();
    }
}

/// Polls until `probe` answers; a guard against hanging forever, not a timing assertion.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(answer) = probe() {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never happened: {what}");
}

fn spawn_xtask(fixture: &Fixture, args: &[&str]) -> Child {
    fixture
        .command(args)
        .env("DATABASE_URL", fixture.db.url().secret_conninfo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> Run {
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The backend of another session of the fixture's database whose statement contains `text` and
/// that waits for a lock.
fn waiting_backend(fixture: &Fixture, text: &str) -> Option<i32> {
    fixture
        .client()
        .query_opt(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND wait_event_type = 'Lock' AND strpos(query, $1) > 0",
            &[&text],
        )
        .unwrap()
        .map(|row| row.get(0))
}

fn backend_gone(fixture: &Fixture, pid: i32) -> Option<()> {
    let alive: bool = fixture
        .client()
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)",
            &[&pid],
        )
        .unwrap()
        .get(0);
    (!alive).then_some(())
}

/// Starts `migrate`, lets its `CREATE INDEX CONCURRENTLY` wait for `blocker`, then kills the
/// runner with SIGKILL. Returns the server backend that goes on running the statement.
fn kill_runner_during_index_build(fixture: &Fixture) -> i32 {
    let mut runner = spawn_xtask(fixture, &["migrate", "--lock-timeout", "1h"]);
    let pid = eventually("the index build waits for the open transaction", || {
        waiting_backend(fixture, "CREATE INDEX CONCURRENTLY")
    });
    runner.kill().unwrap(); // SIGKILL
    runner.wait().unwrap();
    pid
}

/// `(exists, valid)` of index `items_value`.
fn index_state(fixture: &Fixture) -> (bool, bool) {
    fixture
        .client()
        .query_opt(
            "SELECT x.indisvalid FROM pg_index x WHERE x.indexrelid = to_regclass('items_value')",
            &[],
        )
        .unwrap()
        .map_or((false, false), |row| (true, row.get(0)))
}

fn state_of(fixture: &Fixture, version: i64) -> String {
    let run = fixture.xtask(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("status JSON");
    json["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|migration| migration["version"] == version)
        .map(|migration| migration["state"].as_str().unwrap().to_owned())
        .unwrap()
}

fn log_lines(fixture: &Fixture) -> Vec<serde_json::Value> {
    fixture
        .log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

const PLAIN_INDEX: &str = "CREATE INDEX CONCURRENTLY items_value ON items (value);";

#[test]
fn a_killed_runner_whose_index_finished_is_recorded_applied() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    assert_eq!(
        state_of(&fixture, 2),
        "failed",
        "status shows the unfinished run"
    );
    blocker.release();
    eventually("the server finishes the index on its own", || {
        backend_gone(&fixture, orphan)
    });
    assert_eq!(index_state(&fixture), (true, true));

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("is valid and is what")
            && run.stdout.contains("recorded as applied")
            && !run.stdout.contains("up V0002"),
        "recorded without running it again:\n{run}"
    );
    assert_eq!(state_of(&fixture, 2), "applied");
    assert_eq!(fixture.applied(), [1, 2]);
    let recovered = log_lines(&fixture)
        .into_iter()
        .find(|line| line["outcome"] == "recovered")
        .expect("the recovery is in the migration log");
    assert_eq!(recovered["version"], 2);
    assert_eq!(recovered["settled_as"], "applied");
    assert!(recovered["applied_by"].as_str().unwrap().contains('@'));
    fixture.xtask(&["migrate"]).assert_ok();
}

#[test]
fn a_killed_runner_whose_index_was_left_invalid_is_cleaned_and_run_again() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    fixture
        .client()
        .execute("SELECT pg_terminate_backend($1)", &[&orphan])
        .unwrap();
    eventually("the build is stopped", || backend_gone(&fixture, orphan));
    blocker.release();
    assert_eq!(index_state(&fixture), (true, false), "an INVALID leftover");

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("is INVALID")
            && run.stdout.contains("dropped it, it runs again")
            && run.stdout.contains("up V0002"),
        "{run}"
    );
    assert_eq!(index_state(&fixture), (true, true));
    assert_eq!(state_of(&fixture, 2), "applied");
}

#[test]
fn migrate_waits_within_lock_wait_for_a_dead_runners_statement() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);

    let gave_up = fixture.xtask(&["migrate", "--lock-wait", "1s"]);
    gave_up.assert_user_error(&[
        "V0002__index_items_value is still running on the server",
        &format!("pid {orphan}"),
        "--stop-orphaned-run",
    ]);
    assert!(gave_up
        .stderr
        .contains("waiting up to 1s for V0002__index_items_value"));

    let mut waiting = spawn_xtask(&fixture, &["migrate", "--lock-wait", "1h"]);
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("waiting up to") {
        line.clear();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "no waiting line");
    }
    assert!(
        line.contains(&format!("pid {orphan}")) && line.contains("CREATE INDEX CONCURRENTLY"),
        "{line}"
    );
    blocker.release();
    let run = finish(waiting);
    run.assert_ok();
    assert!(run.stdout.contains("recorded as applied"), "{run}");
    assert_eq!(state_of(&fixture, 2), "applied");
    assert_eq!(index_state(&fixture), (true, true));
}

#[test]
fn stop_orphaned_run_cancels_a_dead_runners_statement_and_runs_it_again() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);

    let stopping = spawn_xtask(&fixture, &["migrate", "--stop-orphaned-run"]);
    eventually("the dead runner's statement is stopped", || {
        backend_gone(&fixture, orphan)
    });
    // The index is built again once nothing writes to the table any more.
    blocker.release();
    let run = finish(stopping);
    run.assert_ok();
    assert!(
        run.stdout.contains("stopping V0002__index_items_value")
            && run.stdout.contains("dropped it, it runs again"),
        "{run}"
    );
    assert_eq!(index_state(&fixture), (true, true));
    assert_eq!(state_of(&fixture, 2), "applied");
}

#[test]
fn what_recovery_cannot_decide_stops_migrate_and_points_at_repair() {
    let fixture = items_and_index("CREATE INDEX CONCURRENTLY ON items (value);");
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    blocker.release();
    eventually("the server finishes the index on its own", || {
        backend_gone(&fixture, orphan)
    });

    fixture.xtask(&["migrate"]).assert_user_error(&[
        "V0002__index_items_value.sql did not finish",
        "its index has no name",
        "cargo xtask repair 2 --applied --reason TEXT",
    ]);
    fixture
        .xtask(&[
            "repair",
            "2",
            "--applied",
            "--reason",
            "items_value_idx is valid",
        ])
        .assert_user_error(&["cannot be checked", "--force"]);
    fixture
        .xtask(&[
            "repair",
            "2",
            "--applied",
            "--force",
            "--reason",
            "items_value_idx is valid",
        ])
        .assert_ok();
    assert_eq!(state_of(&fixture, 2), "applied");
    fixture.xtask(&["migrate"]).assert_ok();
}

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

/// A PostgreSQL cluster of this test's own, dropped with this value.
struct OwnCluster {
    name: String,
    url: DatabaseUrl,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let name = format!("bomizzel_restart_{}", std::process::id());
        let sh = xshell::Shell::new().unwrap();
        xshell::cmd!(sh, "pg_createcluster 15 {name} -p {port} -- --auth=trust")
            .quiet()
            .ignore_stdout()
            .run()
            .unwrap();
        let cluster = OwnCluster {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres")
                .parse()
                .unwrap(),
            name,
        };
        cluster.ctl("start");
        cluster
    }

    fn ctl(&self, action: &str) {
        let sh = xshell::Shell::new().unwrap();
        let name = &self.name;
        xshell::cmd!(sh, "pg_ctlcluster -m immediate 15 {name} {action}")
            .quiet()
            .run()
            .unwrap();
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let sh = xshell::Shell::new().unwrap();
        let name = &self.name;
        let _ = xshell::cmd!(sh, "pg_dropcluster --stop 15 {name}")
            .quiet()
            .run();
    }
}

#[test]
fn a_server_restarted_during_a_migration_leaves_it_to_apply_cleanly() {
    let cluster = OwnCluster::start();
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_items",
        "CREATE TABLE items (id int PRIMARY KEY);",
        "DROP TABLE items;",
    );
    fixture.migration(
        2,
        "add_notes",
        "CREATE TABLE notes (id int PRIMARY KEY);\nALTER TABLE items ADD COLUMN note int;",
        "DROP TABLE notes;\nALTER TABLE items DROP COLUMN note;",
    );
    fixture
        .xtask_with(&["migrate", "--target", "1"], &cluster.url)
        .assert_ok();
    let mut reader = cluster.url.connect("bomizzel-test").unwrap();
    reader.batch_execute("BEGIN; SELECT * FROM items").unwrap();

    let mut runner = fixture.command(&["migrate", "--lock-timeout", "1h"]);
    runner
        .env("DATABASE_URL", cluster.url.secret_conninfo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let runner = runner.spawn().unwrap();
    eventually(
        "the migration waits for the reader, its notes table made",
        || {
            let mut client = cluster.url.connect("bomizzel-test").ok()?;
            let row = client
                .query_opt(
                    "SELECT pid FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND strpos(query, 'ADD COLUMN note') > 0",
                    &[],
                )
                .ok()?;
            row.map(|_| ())
        },
    );
    cluster.ctl("restart");
    let interrupted = finish(runner);
    assert_eq!(interrupted.code, 1, "{interrupted}");

    let run = fixture.xtask_with(&["migrate"], &cluster.url);
    run.assert_ok();
    assert!(run.stdout.contains("up V0002__add_notes"), "{run}");
    let mut client = cluster.url.connect("bomizzel-test").unwrap();
    let history = migrations::history::read(&mut client).unwrap();
    assert_eq!(history.applied.keys().copied().collect::<Vec<_>>(), [1, 2]);
    let status = fixture.xtask_with(&["status", "--check"], &cluster.url);
    status.assert_ok();
}

/// A TCP proxy to the test server that forwards everything until a session sends COMMIT, then
/// lets the server answer and closes that session without passing the answer on.
fn proxy_dropping_after_commit(server: &DatabaseUrl) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = server.server();
    let dropped = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            let commit_sent = Arc::new(AtomicBool::new(false));
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (sent, dropped) = (commit_sent.clone(), dropped.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16384];
                while let Ok(read) = from_client.read(&mut buffer) {
                    let chunk = &buffer[..read];
                    if read == 0 {
                        break;
                    }
                    if !dropped.load(Ordering::SeqCst)
                        && chunk.windows(7).any(|window| window == b"COMMIT\0")
                    {
                        dropped.store(true, Ordering::SeqCst);
                        sent.store(true, Ordering::SeqCst);
                    }
                    if to_server.write_all(chunk).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Both);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16384];
                while let Ok(read) = from_server.read(&mut buffer) {
                    if read == 0 || commit_sent.load(Ordering::SeqCst) {
                        break;
                    }
                    if to_client.write_all(&buffer[..read]).is_err() {
                        break;
                    }
                }
                let _ = to_client.shutdown(Shutdown::Both);
                let _ = from_server.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_connection_lost_right_after_commit_leaves_the_migration_applied_once() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_items",
        "CREATE TABLE items (id int PRIMARY KEY);",
        "DROP TABLE items;",
    );
    fixture.migration(
        2,
        "seed_items",
        "INSERT INTO items VALUES (1), (2);",
        "DELETE FROM items;",
    );
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    let url = fixture.db.url();
    let port = proxy_dropping_after_commit(url);
    // In clear text, so the proxy can see the COMMIT go by.
    let through_proxy: DatabaseUrl = format!(
        "postgres://{}@127.0.0.1:{port}/{}?sslmode=disable",
        url.user(),
        url.database()
    )
    .parse()
    .unwrap();

    let lost = fixture.xtask_with(&["migrate"], &through_proxy);
    lost.assert_user_error(&["V0002__seed_items.sql", "lost the connection"]);

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date at version 2"), "{run}");
    let rows: i64 = fixture
        .client()
        .query_one("SELECT count(*) FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 2, "applied once");
    assert_eq!(state_of(&fixture, 2), "applied");
}
