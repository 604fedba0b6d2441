//! Runs that ended badly recover without SQL by hand: a runner killed during `CREATE INDEX
//! CONCURRENTLY` (finished, stopped half-way, still running), `cargo xtask repair`, a server
//! restarted during a migration, a connection lost right after COMMIT.

mod killed_runner;
mod lost_server;
mod repair;
#[path = "../support/mod.rs"]
mod support;

use std::process::{Child, Stdio};
use std::time::Duration;

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
