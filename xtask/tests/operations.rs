//! `backup`, `restore` and `deploy-db` against the real server with the real pg_dump and
//! pg_restore: each test has its own scratch databases, folders, log and report.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use migrations::{DatabaseUrl, ScratchDatabase};
use support::{run, server, Fixture, PasswordRole, Run};

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

#[test]
fn deploy_backs_up_applies_verifies_checks_health_and_reports() {
    let fixture = fixture_with_data(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);",
        "DROP TABLE notes;",
    );
    // verify compares the head schema with the committed snapshot beside the folder.
    fixture.xtask(&["migrate"]).assert_ok();
    fixture.xtask(&["schema", "dump"]).assert_ok();
    fixture.xtask(&["rollback", "--to", "1"]).assert_ok();
    let (health_url, asked) = health_server(200);

    let outcome = deploy(
        &fixture,
        fixture.db.url(),
        &[
            "--yes",
            "--health-url",
            &health_url,
            "--health-timeout",
            "5s",
        ],
    );
    outcome.assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2, 3]);
    assert_eq!(asked.lock().unwrap().as_slice(), ["/health/ready"]);
    for needle in [
        "==> preflight",
        "==> backup",
        "==> migrate",
        "==> verify",
        "deployed",
    ] {
        assert!(outcome.stdout.contains(needle), "{needle}:\n{outcome}");
    }

    let files = backups(&fixture.work.path().join("backups"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("{}-", fixture.db.name())) && name.ends_with("-v1.dump"),
        "<db>-<time>-v<version>.dump: {name}"
    );
    assert_eq!(mode(&files[0]), 0o600);

    let first = report(&fixture);
    assert_eq!(first["outcome"], "deployed");
    assert_eq!(first["exit_code"], 0);
    assert_eq!(first["starting_version"], 1);
    assert_eq!(first["final_version"], 3);
    let migrations = first["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2);
    for (migration, version) in migrations.iter().zip([2, 3]) {
        assert_eq!(migration["version"], version);
        assert_eq!(migration["outcome"], "applied");
        assert_eq!(migration["class"], "safe");
        assert!(migration["duration_ms"].is_u64());
    }
    assert_eq!(
        first["backup"]["path"].as_str().unwrap(),
        std::fs::canonicalize(&files[0]).unwrap().to_str().unwrap()
    );
    assert!(first["backup"]["size_bytes"].as_u64().unwrap() > 0);
    let checks = first["checks"].as_array().unwrap();
    let check = |name: &str| {
        checks
            .iter()
            .find(|check| check["name"] == name)
            .unwrap_or_else(|| panic!("check {name} in {checks:?}"))
    };
    assert_eq!(check("health check")["passed"], true);
    assert_eq!(check("lint: pending migrations' class")["passed"], true);
    assert_eq!(check("backup readable")["passed"], true);
    assert_eq!(
        check("verify: live schema equals the committed snapshot")["passed"],
        true
    );

    let log = fixture.log();
    for needle in [
        "\"command\":\"deploy-db\"",
        "\"outcome\":\"backed_up\"",
        "\"outcome\":\"applied\"",
        "\"name\":\"health check\",\"direction\":null,\"duration_ms\":null,\"outcome\":\"passed\"",
        "\"name\":\"deploy-db\",\"direction\":null,\"duration_ms\":null,\"outcome\":\"deployed\"",
    ] {
        assert!(log.contains(needle), "{needle}:\n{log}");
    }

    // Again: nothing pending, no second backup, still exit 0.
    std::fs::remove_dir_all(fixture.work.path().join("reports")).unwrap();
    let again = deploy(&fixture, fixture.db.url(), &["--yes"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("is up to date at version 3"),
        "{again}"
    );
    assert_eq!(backups(&fixture.work.path().join("backups")).len(), 1);
    assert_eq!(report(&fixture)["outcome"], "up_to_date");
}

#[test]
fn a_failing_second_migration_is_rolled_back_with_every_table_unchanged() {
    let fixture = fixture_with_data(
        "INSERT INTO labels VALUES (1, 1, 'duplicate key');",
        "DELETE FROM labels WHERE label = 'duplicate key';",
    );
    let before = contents(fixture.db.url());
    let outcome = deploy(
        &fixture,
        fixture.db.url(),
        &["--yes", "--rollback-on-failure"],
    );
    assert_eq!(outcome.code, 3, "{outcome}");
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{outcome}");
    assert!(errors[0].contains("V0003__third.sql"), "{outcome}");
    assert!(
        errors[0].contains("rolled back to the starting version 1"),
        "{outcome}"
    );
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(contents(fixture.db.url()), before);

    let written = report(&fixture);
    assert_eq!(written["outcome"], "rolled_back");
    assert_eq!(written["exit_code"], 3);
    assert_eq!(written["final_version"], 1);
    assert_eq!(written["migrations"][0]["outcome"], "rolled_back");
    assert!(written["migrations"][0]["rollback_duration_ms"].is_u64());
    assert_eq!(written["migrations"][1]["outcome"], "failed");
    assert!(written["restore_command"].is_null());
    let log = fixture.log();
    assert!(log.contains("\"outcome\":\"rolled_back\""), "{log}");
    assert!(
        log.contains("\"name\":\"data intact after the rollback\""),
        "{log}"
    );
}

#[test]
fn a_failing_health_check_rolls_back_what_was_applied() {
    let fixture = fixture_with_data(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);",
        "DROP TABLE notes;",
    );
    fixture.xtask(&["migrate"]).assert_ok();
    fixture.xtask(&["schema", "dump"]).assert_ok();
    fixture.xtask(&["rollback", "--to", "1"]).assert_ok();
    let before = contents(fixture.db.url());
    let (health_url, _) = health_server(503);
    let outcome = deploy(
        &fixture,
        fixture.db.url(),
        &[
            "--yes",
            "--rollback-on-failure",
            "--health-url",
            &format!("{health_url}/health/ready"),
            "--health-timeout",
            "1s",
        ],
    );
    assert_eq!(outcome.code, 3, "{outcome}");
    assert!(outcome.stderr.contains("answered 503"), "{outcome}");
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(contents(fixture.db.url()), before);
}

#[test]
fn without_rollback_a_failed_deploy_prints_the_restore_command_that_brings_the_data_back() {
    let fixture = fixture_with_data(
        "INSERT INTO labels VALUES (1, 1, 'duplicate key');",
        "DELETE FROM labels WHERE label = 'duplicate key';",
    );
    let before = contents(fixture.db.url());
    let outcome = deploy(&fixture, fixture.db.url(), &["--yes"]);
    assert_eq!(outcome.code, 4, "{outcome}");
    assert!(outcome
        .stderr
        .contains("not rolled back (--rollback-on-failure was not given)"));
    assert_eq!(fixture.applied(), vec![1, 2], "V0002 stays applied");
    let command = outcome
        .stdout
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("cargo xtask restore "))
        .unwrap_or_else(|| panic!("a restore command:\n{outcome}"));
    assert_eq!(report(&fixture)["restore_command"], command);
    assert_eq!(report(&fixture)["outcome"], "not_rolled_back");
    let args: Vec<&str> = command
        .strip_prefix("cargo xtask ")
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(args.contains(&fixture.db.name()), "{command}");

    let mut args = args;
    let dir = fixture.dir();
    args.extend(["--dir", dir.to_str().unwrap()]);
    let restored = fixture.xtask(&args);
    restored.assert_ok();
    assert!(restored.stdout.contains("schema version: 1"), "{restored}");
    assert!(
        restored.stdout.contains("pending  V0002__create_labels"),
        "{restored}"
    );
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(contents(fixture.db.url()), before);
}

#[test]
fn a_risky_migration_without_maintenance_window_is_refused_before_anything_is_touched() {
    let fixture = fixture_with_data(
        "ALTER TABLE things DROP COLUMN doc;",
        "ALTER TABLE things ADD COLUMN doc jsonb;",
    );
    let before = contents(fixture.db.url());
    let outcome = deploy(&fixture, fixture.db.url(), &["--yes"]);
    outcome.assert_user_error(&["V0003__third is risky", "--maintenance-window"]);
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(contents(fixture.db.url()), before);
    assert!(
        backups(&fixture.work.path().join("backups")).is_empty(),
        "no backup either"
    );
    assert_eq!(report(&fixture)["outcome"], "refused");
    assert!(fixture.log().contains("\"outcome\":\"refused\""));

    // The dry run shows the plan: each migration, its class and SQL, and the backup.
    let plan = deploy(
        &fixture,
        fixture.db.url(),
        &["--dry-run", "--maintenance-window"],
    );
    plan.assert_ok();
    for needle in [
        "V0002__create_labels  [safe, in a transaction]",
        "V0003__third  [risky, in a transaction]",
        "| ALTER TABLE things DROP COLUMN doc;",
        "backup first:",
        "-v1.dump",
    ] {
        assert!(plan.stdout.contains(needle), "{needle}:\n{plan}");
    }
    assert_eq!(fixture.applied(), vec![1]);
}

#[test]
fn backup_then_restore_into_a_new_database_gives_identical_content() {
    let fixture = fixture_with_data("SELECT 1;", "SELECT 1;");
    fixture.xtask(&["migrate"]).assert_ok();
    let source = contents(fixture.db.url());
    for format in ["custom", "directory"] {
        let out = fixture.work.path().join(format!("backups-{format}"));
        let mut args = vec!["backup", "--format", format, "--out", out.to_str().unwrap()];
        if format == "directory" {
            args.extend(["--jobs", "2"]);
        } else {
            args.push("--verify");
        }
        let log = fixture.log_path();
        args.extend(["--log", log.to_str().unwrap()]);
        let backup = fixture.xtask(&args);
        backup.assert_ok();
        assert!(backup.stdout.contains("backed up"), "{backup}");
        let file = backups(&out).pop().unwrap();
        assert!(
            backup.stdout.contains(file.to_str().unwrap()),
            "prints the path:\n{backup}"
        );
        if format == "custom" {
            assert!(
                backup.stdout.contains("verified: pg_restore --list reads"),
                "{backup}"
            );
            assert!(
                backup
                    .stdout
                    .contains("every row count and content checksum equal"),
                "{backup}"
            );
            assert_eq!(mode(&file), 0o600);
        } else {
            assert_eq!(mode(&file), 0o700);
            for entry in std::fs::read_dir(&file).unwrap() {
                assert_eq!(mode(&entry.unwrap().path()), 0o600);
            }
        }

        let target = ScratchDatabase::create(&server(), "bomizzel_test_restore").unwrap();
        let restored = fixture.xtask(&[
            "restore",
            file.to_str().unwrap(),
            "--target-db",
            target.name(),
            "--dir",
            fixture.dir().to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
        ]);
        restored.assert_ok();
        assert!(restored.stdout.contains("schema version: 3"), "{restored}");
        assert!(
            restored.stdout.contains("applied  V0003__third"),
            "{restored}"
        );
        assert_eq!(contents(target.url()), source, "{format}");
    }
}

/// Wrong usage exits 2 with one `error:` line naming what is wrong, whichever command it is (clap's
/// own refusals included), and creates nothing; a refused deploy keeps its documented 1 (3 and 4
/// are pinned by the rollback tests above).
#[test]
fn wrong_usage_exits_2_with_one_error_line_and_a_refused_deploy_exits_1() {
    let fixture = Fixture::new();
    for (args, needle) in [
        (
            &["new", "Add-Due-Date"][..],
            "`Add-Due-Date` is not snake_case",
        ),
        (&["new", "two", "names"], "`new` takes one migration name"),
        (
            &["bench", "roundtrip", "--rounds", "0"],
            "'--rounds <ROUNDS>'",
        ),
        (&["bench", "migrate", "--count", "0"], "'--count <COUNT>'"),
        (&["bench", "backfill", "--rows", "999"], "'--rows <ROWS>'"),
        (&["migrate", "--no-such-flag"], "'--no-such-flag'"),
        (
            &["backup", "--jobs", "2"],
            "--jobs needs --format directory",
        ),
        (&["deploy-db"], "pass --yes to confirm"),
    ] {
        fixture.xtask(args).assert_usage_error(&[needle]);
    }
    assert_eq!(std::fs::read_dir(fixture.dir()).unwrap().count(), 0);

    fixture.migration(
        1,
        "broken",
        "CREATE TABLE t (id int REFERENCES nowhere);",
        "DROP TABLE t;",
    );
    deploy(&fixture, fixture.db.url(), &["--yes"]).assert_user_error(&["nowhere"]);
    assert_eq!(report(&fixture)["exit_code"], 1);
}

#[test]
fn restore_refuses_to_overwrite_without_the_flags() {
    let fixture = fixture_with_data("SELECT 1;", "SELECT 1;");
    let out = fixture.work.path().join("backups");
    let log = fixture.log_path();
    let (out_arg, log_arg) = (out.to_str().unwrap(), log.to_str().unwrap());
    fixture
        .xtask(&["backup", "--out", out_arg, "--log", log_arg])
        .assert_ok();
    let file = backups(&out).pop().unwrap();
    let file_arg = file.to_str().unwrap();
    fixture
        .client()
        .batch_execute("INSERT INTO things (id, name) VALUES (1000, 'after the backup')")
        .unwrap();
    let after = contents(fixture.db.url());

    fixture
        .xtask(&["restore", file_arg, "--log", log_arg])
        .assert_user_error(&[
            "tables (public.bomizzel_backfill_progress, public.bomizzel_migration_state",
            "--drop-existing",
        ]);
    fixture
        .xtask(&["restore", file_arg, "--drop-existing", "--log", log_arg])
        .assert_user_error(&["--drop-existing needs --yes"]);
    assert_eq!(contents(fixture.db.url()), after, "nothing changed");

    fixture
        .xtask(&[
            "restore",
            file_arg,
            "--drop-existing",
            "--yes",
            "--log",
            log_arg,
        ])
        .assert_ok();
    let count: i64 = fixture
        .client()
        .query_one("SELECT count(*) FROM things WHERE id = 1000", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "the backup's data replaced the newer row");
}

#[test]
fn a_missing_pg_dump_gives_one_clear_line() {
    let fixture = fixture_with_data("SELECT 1;", "SELECT 1;");
    let empty = tempfile::tempdir().unwrap();
    let out = fixture.work.path().join("backups");
    let mut command = fixture.command(&["backup", "--out", out.to_str().unwrap()]);
    command
        .arg("--log")
        .arg(fixture.log_path())
        .env("PATH", empty.path())
        .env("BOMIZZEL_PG_BIN_DIRS", "")
        .env("DATABASE_URL", fixture.db.url().secret_conninfo());
    run(command).assert_user_error(&[
        "pg_dump not found: searched PATH",
        "BOMIZZEL_PG_BIN_DIRS is empty",
        "apt-get install postgresql-client",
    ]);
    assert!(backups(&out).is_empty());

    // deploy-db refuses in its preflight, before the backup or any migration.
    let mut command = fixture.command(&["deploy-db", "--yes"]);
    command
        .arg("--dir")
        .arg(fixture.dir())
        .arg("--log")
        .arg(fixture.log_path())
        .arg("--backup-dir")
        .arg(&out)
        .arg("--report")
        .arg(fixture.work.path().join("reports"))
        .env("PATH", empty.path())
        .env("BOMIZZEL_PG_BIN_DIRS", "")
        .env("DATABASE_URL", fixture.db.url().secret_conninfo());
    run(command).assert_user_error(&["preflight refused", "pg_dump not found"]);
    assert_eq!(fixture.applied(), vec![1]);

    // A pg_dump older than the server is refused, naming both versions.
    let old = tempfile::tempdir().unwrap();
    let fake = old.path().join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = fixture.command(&["backup", "--out", out.to_str().unwrap()]);
    command
        .arg("--log")
        .arg(fixture.log_path())
        .env("PATH", old.path())
        .env("BOMIZZEL_PG_BIN_DIRS", "")
        .env("DATABASE_URL", fixture.db.url().secret_conninfo());
    let server_version: String = fixture
        .client()
        .query_one(
            "SELECT split_part(current_setting('server_version'), ' ', 1)",
            &[],
        )
        .unwrap()
        .get(0);
    run(command).assert_user_error(&[
        &format!(
            "pg_dump 9.6.24 ({}) is older than the server (PostgreSQL {server_version})",
            fake.display()
        ),
        "apt-get install postgresql-client-",
    ]);
    assert!(backups(&out).is_empty());
}

#[test]
fn a_wrong_password_gives_one_clear_line() {
    let fixture = fixture_with_data("SELECT 1;", "SELECT 1;");
    let role = PasswordRole::create(&fixture);
    if !role.server_checks_passwords() {
        return;
    }
    let url = &role.wrong_url;
    let out = fixture.work.path().join("backups");
    let log = fixture.log_path();
    let runs = [
        fixture.xtask_with(
            &[
                "backup",
                "--out",
                out.to_str().unwrap(),
                "--log",
                log.to_str().unwrap(),
            ],
            url,
        ),
        deploy(&fixture, url, &["--yes"]),
        fixture.xtask_with(
            &["restore", "nothing.dump", "--log", log.to_str().unwrap()],
            url,
        ),
    ];
    runs[0].assert_user_error(&["rejected the password for user", &role.name]);
    runs[1].assert_user_error(&["rejected the password for user", &role.name]);
    runs[2].assert_user_error(&["backup nothing.dump does not exist"]);
    for run in &runs {
        assert!(!run.all_output().contains("wrong-password"), "{run}");
    }
    assert!(!written_text(&fixture).contains("wrong-password"));
    assert!(backups(&out).is_empty());
    assert_eq!(fixture.applied(), vec![1]);
}

#[test]
fn no_password_in_output_log_report_files_or_any_process_arguments() {
    const SECRET: &str = "Pa55-word-xyz";
    let fixture = fixture_with_data(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);",
        "DROP TABLE notes;",
    );
    // Enough rows for pg_dump to run long enough to be seen in /proc.
    fixture
        .client()
        .batch_execute(
            "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 4) AS body
             FROM generate_series(1, 200000) AS g",
        )
        .unwrap();
    // The local server trusts loopback, so any password is accepted: it still must not leak.
    let url: DatabaseUrl = fixture
        .db
        .url()
        .secret_conninfo()
        .replace("user=", &format!("password='{SECRET}' user="))
        .parse()
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut leaks, mut saw_pg_dump, mut saw_pg_restore) = (Vec::new(), false, false);
            while !done.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
                    saw_pg_dump |= cmdline.contains("pg_dump ");
                    saw_pg_restore |= cmdline.contains("pg_restore ");
                    if cmdline.contains(SECRET) {
                        leaks.push(cmdline);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (leaks, saw_pg_dump, saw_pg_restore)
        })
    };
    let out = fixture.work.path().join("backups");
    let log = fixture.log_path();
    let (out_arg, log_arg) = (out.to_str().unwrap(), log.to_str().unwrap());
    let backup = fixture.xtask_with(
        &["backup", "--verify", "--out", out_arg, "--log", log_arg],
        &url,
    );
    let file = backups(&out).pop().unwrap();
    let target = ScratchDatabase::create(&server(), "bomizzel_test_restore").unwrap();
    let restore = fixture.xtask_with(
        &[
            "restore",
            file.to_str().unwrap(),
            "--target-db",
            target.name(),
            "--log",
            log_arg,
        ],
        &url,
    );
    let deployed = deploy(&fixture, &url, &["--yes"]);
    done.store(true, Ordering::Relaxed);
    let (leaks, saw_pg_dump, saw_pg_restore) = watcher.join().unwrap();

    for run in [&backup, &restore] {
        run.assert_ok();
    }
    // No snapshot beside the folder: verify fails after the migrations, so this deploy ends 4.
    assert_eq!(deployed.code, 4, "{deployed}");
    for run in [&backup, &restore, &deployed] {
        assert!(!run.all_output().contains(SECRET), "{run}");
        assert!(run.all_output().contains(":***@"), "{run}");
    }
    assert!(
        leaks.is_empty(),
        "password in a process's arguments: {leaks:?}"
    );
    assert!(
        saw_pg_dump && saw_pg_restore,
        "the watcher saw the tools run"
    );
    let written = written_text(&fixture);
    assert!(written.contains("\"command\":\"deploy-db\""));
    assert!(!written.contains(SECRET), "{written}");
    assert!(!std::fs::read(&file)
        .unwrap()
        .windows(SECRET.len())
        .any(|window| window == SECRET.as_bytes()));
}
