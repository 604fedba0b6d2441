//! The engine's guarantees: one runner at a time, lock timeouts, and bad input refused with one
//! clear message and nothing changed.

mod support;

use std::process::Stdio;

use support::{run, Fixture, PasswordRole};

#[test]
fn six_concurrent_runners_apply_each_migration_exactly_once() {
    let fixture = Fixture::with_project_migrations();
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut command = fixture.command(&["migrate"]);
            command
                .env("DATABASE_URL", fixture.db.url().secret_conninfo())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            command.spawn().expect("spawn xtask")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let head = migrations::embedded_head().unwrap();
    assert_eq!(fixture.applied(), (1..=head).collect::<Vec<_>>());
    let log = fixture.log();
    for version in 1..=head {
        let applied = log
            .lines()
            .filter(|line| {
                line.contains(&format!("\"version\":{version},"))
                    && line.contains("\"outcome\":\"applied\"")
            })
            .count();
        assert_eq!(applied, 1, "version {version} applied once:\n{log}");
    }
}

#[test]
fn a_lock_held_elsewhere_fails_after_lock_wait_naming_the_holder() {
    let fixture = Fixture::with_project_migrations();
    let mut holder = fixture.db.url().connect("release-42 deploy").unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    holder
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&migrations::lock::LOCK_KEY],
        )
        .unwrap();
    let run = fixture.xtask(&["migrate", "--lock-wait", "1s"]);
    run.assert_user_error(&[
        "another migration runner holds the migration lock",
        &format!("pid {pid} (release-42 deploy"),
        "gave up after waiting 1s",
    ]);
    assert!(
        run.stderr
            .contains("waiting up to 1s for the migration lock"),
        "{run}"
    );
    assert!(fixture.applied().is_empty());
    assert!(fixture.log().contains("\"outcome\":\"refused\""));

    drop(holder);
    fixture.xtask(&["migrate", "--lock-wait", "5s"]).assert_ok();
}

#[test]
fn a_lock_timeout_is_retried_with_backoff_then_fails_clearly() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "one", "CREATE TABLE one (id int);", "DROP TABLE one;")
        .migration(
            2,
            "alter_one",
            "ALTER TABLE one ADD COLUMN note text;",
            "ALTER TABLE one DROP COLUMN note;",
        );
    fixture.xtask(&["migrate", "--target", "1"]).assert_ok();

    let mut blocker = fixture.client();
    let mut transaction = blocker.transaction().unwrap();
    transaction
        .batch_execute("LOCK TABLE one IN ACCESS SHARE MODE")
        .unwrap();
    let run = fixture.xtask(&[
        "migrate",
        "--lock-timeout",
        "100ms",
        "--lock-retries",
        "2",
        "--retry-backoff",
        "50ms",
    ]);
    run.assert_user_error(&[
        "V0002__alter_one.sql: gave up after 3 attempts",
        "lock_timeout",
    ]);
    assert_eq!(
        run.stdout.matches("lock timeout (attempt").count(),
        2,
        "{run}"
    );
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(fixture.log().matches("\"outcome\":\"retrying\"").count(), 2);

    transaction.rollback().unwrap();
    fixture
        .xtask(&["migrate", "--lock-timeout", "1s"])
        .assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2]);
}

#[test]
fn bad_folders_are_refused_naming_the_file_before_connecting() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "V0002__add-priority.sql",
            "SELECT 1;",
            &[
                "V0002__add-priority.sql: not a migration file name",
                "not snake_case",
            ],
        ),
        (
            "V0001__again.sql",
            "SELECT 1;",
            &[
                "V0001__again.sql and",
                "both have version 1",
                "renumber one",
            ],
        ),
        (
            "V0003__no_down.sql",
            "SELECT 1;",
            &["V0003__no_down.sql: no rollback", "V0003__no_down.down.sql"],
        ),
        (
            "v0004__lower.sql",
            "SELECT 1;",
            &[
                "v0004__lower.sql: not a migration file name",
                "upper-case V",
            ],
        ),
        (
            "V0005__typo.sql",
            "-- xtask: no-transactoin\nSELECT 1;",
            &["V0005__typo.sql:1: unknown directive"],
        ),
    ];
    for (file, sql, needles) in cases {
        let fixture = Fixture::new();
        fixture.migration(1, "one", "CREATE TABLE one (id int);", "DROP TABLE one;");
        fixture.write(file, sql);
        let run = fixture.xtask(&["migrate"]);
        run.assert_user_error(needles);
        assert!(
            fixture.applied().is_empty() && fixture.objects().is_empty(),
            "{file}: nothing applied"
        );
        fixture.xtask(&["status"]).assert_user_error(needles);
    }
}

#[test]
fn an_unreachable_server_gives_one_clear_line() {
    let fixture = Fixture::with_project_migrations();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/nowhere");
    for command in ["migrate", "rollback", "status"] {
        let run = fixture.xtask_with(&[command], &url.parse().unwrap());
        run.assert_user_error(&[
            &format!("cannot reach PostgreSQL at 127.0.0.1:{port}"),
            "is the server running",
        ]);
        assert!(!run.all_output().contains("hunter2"), "{run}");
    }
    assert!(!fixture.log().contains("hunter2"));
}

#[test]
fn a_bad_database_url_is_blamed_on_where_it_came_from() {
    let fixture = Fixture::with_project_migrations();
    let mut command = fixture.command(&["status"]);
    command.env("DATABASE_URL", "postgres://me:topsecret@host:notaport/db");
    let outcome = run(command);
    outcome.assert_user_error(&[
        "invalid database URL in DATABASE_URL",
        "not a PostgreSQL connection string",
    ]);
    assert!(!outcome.all_output().contains("topsecret"), "{outcome}");

    let run = fixture.xtask(&["status", "--database-url", "postgres://localhost"]);
    run.assert_user_error(&[
        "invalid database URL in --database-url",
        "names no database",
    ]);
}

#[test]
fn the_url_comes_from_the_flag_then_the_environment_then_dot_env() {
    let fixture = Fixture::with_project_migrations();
    let conninfo = fixture.db.url().secret_conninfo();
    std::fs::write(
        fixture.work.path().join(".env"),
        format!("# local settings\nDATABASE_URL=\"{conninfo}\"\n"),
    )
    .unwrap();
    let outcome = run(fixture.command(&["migrate", "--target", "2"]));
    outcome.assert_ok();
    assert_eq!(fixture.applied(), vec![1, 2], "DATABASE_URL from .env");

    let mut command = fixture.command(&["status", "--format", "json"]);
    command.env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/elsewhere");
    command
        .arg("--database-url")
        .arg(fixture.db.url().redacted());
    let outcome = run(command);
    outcome.assert_ok();
    assert!(
        outcome.stdout.contains(fixture.db.name()),
        "the flag wins over the environment"
    );

    let mut command = fixture.command(&["status"]);
    command.env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/elsewhere");
    run(command).assert_user_error(&["cannot reach PostgreSQL at 127.0.0.1:1"]);
}

#[test]
fn passwords_never_appear_in_output_or_log() {
    let fixture = Fixture::new();
    fixture
        .migration(1, "one", "CREATE TABLE one (id int);", "DROP TABLE one;")
        .migration(2, "broken", "SELECT nope;", "SELECT 1;");
    // The local server trusts loopback, so any password is accepted: it still must not leak.
    let url = fixture
        .db
        .url()
        .secret_conninfo()
        .replace("user=", "password='Pa55-word-xyz' user=")
        .parse()
        .unwrap();
    let runs = [
        fixture.xtask_with(&["migrate"], &url),
        fixture.xtask_with(&["status", "--format", "json"], &url),
        fixture.xtask_with(&["status"], &url),
        fixture.xtask_with(&["rollback"], &url),
    ];
    for run in &runs {
        assert!(!run.all_output().contains("Pa55-word-xyz"), "{run}");
    }
    assert!(
        runs[1].stdout.contains(":***@"),
        "the URL is shown redacted:\n{}",
        runs[1]
    );
    assert!(!fixture.log().contains("Pa55-word-xyz"));
    assert!(fixture.log().contains(":***@"));
}

#[test]
fn a_wrong_password_is_named_as_such() {
    let fixture = Fixture::with_project_migrations();
    let role = PasswordRole::create(&fixture);
    if !role.server_checks_passwords() {
        return;
    }
    let outcome = fixture.xtask_with(&["migrate"], &role.wrong_url);
    outcome.assert_user_error(&["rejected the password for user", &role.name]);
    assert!(!outcome.all_output().contains("wrong-password"));
    assert!(fixture.applied().is_empty());
}

#[test]
fn new_creates_the_next_numbered_pair_and_never_overwrites() {
    let fixture = Fixture::with_project_migrations();
    let head = migrations::embedded_head().unwrap();
    let file = |version: i32, name: &str| fixture.dir().join(format!("V{version:04}__{name}"));
    let run = fixture.xtask(&["new", "add_ticket_due_date"]);
    run.assert_ok();
    let up = std::fs::read_to_string(file(head + 1, "add_ticket_due_date.sql")).unwrap();
    for field in [
        "-- Purpose: <",
        "-- Risk: <",
        "-- Rollback: <",
        "-- Performance: <",
    ] {
        assert!(up.contains(field), "{up}");
    }
    assert!(file(head + 1, "add_ticket_due_date.down.sql").is_file());
    // The new pair loads (so migrate accepts it) and the next one gets the next number.
    fixture
        .xtask(&["new", "--no-transaction", "index_due_date"])
        .assert_ok();
    let up = std::fs::read_to_string(file(head + 2, "index_due_date.sql")).unwrap();
    assert!(up.contains("-- xtask: no-transaction"));
    fixture.xtask(&["migrate"]).assert_ok();

    fixture
        .xtask(&["new", "Add-Due-Date"])
        .assert_usage_error(&["`Add-Due-Date` is not snake_case"]);
    // A file someone is still writing by hand keeps its number and its content.
    std::fs::write(file(head + 3, "draft.down.sql"), "-- mine\n").unwrap();
    fixture.xtask(&["new", "draft"]).assert_ok();
    assert_eq!(
        std::fs::read_to_string(file(head + 3, "draft.down.sql")).unwrap(),
        "-- mine\n"
    );
    assert!(file(head + 4, "draft.sql").is_file());
}

#[test]
fn a_failed_rollback_keeps_the_migration_applied() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "one",
        "CREATE TABLE one (id int);",
        "DROP TABLE one;\nDROP TABLE not_there;",
    );
    fixture.xtask(&["migrate"]).assert_ok();
    fixture
        .xtask(&["rollback"])
        .assert_user_error(&["V0001__one.down.sql: table \"not_there\" does not exist"]);
    assert_eq!(fixture.applied(), vec![1]);
    assert_eq!(fixture.objects(), vec!["r one".to_owned()]);
}

#[test]
fn statement_timeout_stops_a_slow_migration_and_rolls_it_back() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "slow",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(5);",
        "DROP TABLE slow;",
    );
    fixture
        .xtask(&["migrate", "--statement-timeout", "200ms"])
        .assert_user_error(&[
            "V0001__slow.sql",
            "canceling statement due to statement timeout",
        ]);
    assert!(fixture.applied().is_empty());
    assert!(fixture.objects().is_empty());
}
