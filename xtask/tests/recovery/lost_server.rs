//! A server restarted during a migration, and a connection lost right after COMMIT: the
//! migration ends applied once.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use migrations::DatabaseUrl;

use super::{eventually, finish, state_of};
use crate::support::Fixture;

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
