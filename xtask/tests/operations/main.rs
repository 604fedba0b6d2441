//! `backup`, `restore` and `deploy-db` against the real server with the real pg_dump and
//! pg_restore: each test has its own scratch databases, folders, log and report.

mod backup;
mod deploy;
mod refusals;
mod secrets;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use migrations::DatabaseUrl;
use support::{run, Fixture, Run};

/// Every table's row count and `md5(string_agg(row ORDER BY row))`: an independent fingerprint
/// (not the one the xtask uses), fine for test-sized tables.
fn contents(url: &DatabaseUrl) -> BTreeMap<String, (i64, String)> {
    let mut client = url.connect("bomizzel-test").unwrap();
    client
        .batch_execute("SET TimeZone = 'UTC'; SET extra_float_digits = 3")
        .unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    tables
        .into_iter()
        .map(|table| {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
                         FROM {table} AS t"
                    ),
                    &[],
                )
                .unwrap();
            (table, (row.get(0), row.get(1)))
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The backups `--out`/`--backup-dir` received.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// The one deploy report (JSON) in the fixture's report folder.
fn report(fixture: &Fixture) -> serde_json::Value {
    let dir = fixture.work.path().join("reports");
    let json: Vec<PathBuf> = backups(&dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    assert_eq!(json.len(), 1, "one report in {}", dir.display());
    let text = json[0].with_extension("txt");
    assert!(text.is_file(), "the text report beside the JSON");
    serde_json::from_str(&std::fs::read_to_string(&json[0]).unwrap()).unwrap()
}

/// Everything written into the fixture's folder (log, reports), for secrets checks.
fn written_text(fixture: &Fixture) -> String {
    let mut all = fixture.log();
    for path in backups(&fixture.work.path().join("reports")) {
        all.push_str(&std::fs::read_to_string(path).unwrap());
    }
    all
}

/// `cargo xtask deploy-db` on the fixture with its folders, log and report.
fn deploy(fixture: &Fixture, url: &DatabaseUrl, extra: &[&str]) -> Run {
    let mut command = fixture.command(&["deploy-db"]);
    command
        .arg("--dir")
        .arg(fixture.dir())
        .arg("--log")
        .arg(fixture.log_path())
        .arg("--backup-dir")
        .arg(fixture.work.path().join("backups"))
        .arg("--report")
        .arg(fixture.work.path().join("reports"))
        .args(extra)
        .env("DATABASE_URL", url.secret_conninfo());
    run(command)
}

/// A table with rows of many types, in migration 1, applied; and two more pending migrations.
fn fixture_with_data(third: &str, third_down: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture
        .migration(
            1,
            "create_things",
            "CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL, price numeric, \
             seen timestamptz, ratio float8, raw bytea, doc jsonb);",
            "DROP TABLE things;",
        )
        .migration(
            2,
            "create_labels",
            "CREATE TABLE labels (id int PRIMARY KEY, thing_id int, label text);\n\
             INSERT INTO labels VALUES (1, 1, 'first'), (2, 2, 'second');",
            "DROP TABLE labels;",
        )
        .migration(3, "third", third, third_down);
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();
    fixture
        .client()
        .batch_execute(
            "INSERT INTO things SELECT g, 'thing ' || g, g * 1.5, timestamptz '2026-01-01' + g * interval '1 hour',
                    g / 7.0, decode(md5(g::text), 'hex'), jsonb_build_object('n', g)
             FROM generate_series(1, 300) AS g",
        )
        .unwrap();
    fixture
}

/// A tiny HTTP server on 127.0.0.1 answering every request with `status`; returns its URL and
/// the paths it was asked for.
fn health_server(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request);
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            seen.lock().unwrap().push(path);
            let body = if status == 200 {
                "ready"
            } else {
                "not ready: database"
            };
            let reason = if status == 200 {
                "OK"
            } else {
                "Service Unavailable"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, paths)
}
