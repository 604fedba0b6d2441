//! `check-compat`: the previous release's own queries, prepared on the new head schema.

mod support;

use std::path::Path;
use std::process::Command;

use support::{workspace_root, Fixture};

/// A git repository whose tag `v1` holds this workspace's `.sqlx/` query files.
fn release_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let sqlx = repo.path().join(".sqlx");
    std::fs::create_dir(&sqlx).unwrap();
    for entry in std::fs::read_dir(workspace_root().join(".sqlx")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, sqlx.join(path.file_name().unwrap())).unwrap();
    }
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "release 1"]);
    git(&["tag", "v1"]);
    repo
}

fn check(fixture: &Fixture, repo: &Path) -> support::Run {
    fixture.xtask(&[
        "check-compat",
        "--against",
        "v1",
        "--repo",
        repo.to_str().unwrap(),
    ])
}

#[test]
fn a_rename_the_old_queries_use_fails_the_gate_naming_query_migration_and_object() {
    let repo = release_repo();
    let fixture = Fixture::with_project_migrations();
    fixture.migration(
        90,
        "rename_ticket_title",
        "ALTER TABLE tickets RENAME COLUMN title TO subject;",
        "ALTER TABLE tickets RENAME COLUMN subject TO title;",
    );
    let run = check(&fixture, repo.path());
    run.assert_user_error(&["queries of the application at v1 break on the new migrations"]);
    assert!(
        run.stdout
            .contains("broken by V0090__rename_ticket_title.sql"),
        "{run}"
    );
    assert!(
        run.stdout.contains("column \"title\" does not exist"),
        "{run}"
    );
    assert!(run.stdout.contains("v1:.sqlx/query-"), "{run}");
}

#[test]
fn an_additive_migration_passes() {
    let repo = release_repo();
    let fixture = Fixture::with_project_migrations();
    fixture.migration(
        90,
        "add_ticket_due_at",
        "ALTER TABLE tickets ADD COLUMN due_at timestamptz;",
        "ALTER TABLE tickets DROP COLUMN due_at;",
    );
    let run = check(&fixture, repo.path());
    run.assert_ok();
    assert!(run.stdout.contains("every query of v1 prepares"), "{run}");
}

#[test]
fn a_type_change_of_a_returned_column_fails() {
    let repo = release_repo();
    let fixture = Fixture::with_project_migrations();
    fixture.migration(
        90,
        "widen_priority",
        "DROP VIEW open_tickets_by_queue;\nALTER TABLE tickets ALTER COLUMN priority TYPE integer;",
        "ALTER TABLE tickets ALTER COLUMN priority TYPE smallint;",
    );
    let run = check(&fixture, repo.path());
    run.assert_user_error(&["break on the new migrations"]);
    assert!(
        run.stdout
            .contains("column priority changed type from int2 to int4"),
        "{run}"
    );
    assert!(
        run.stdout.contains("broken by V0090__widen_priority.sql"),
        "{run}"
    );
}

/// A one-request HTTP server on loopback answering `status`.
fn answer_once(status: u16) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let body = if status == 200 {
                r#"{"ready":true}"#
            } else {
                r#"{"ready":false,"reason":"schema at version 6"}"#
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}")
}

#[test]
fn health_check_reports_each_check_on_its_own_line() {
    let fixture = Fixture::with_project_migrations();
    let run = fixture.xtask(&["health-check"]);
    run.assert_user_error(&["health check failed: migrations applied"]);
    assert!(run.stdout.contains("ok    database reachable:"), "{run}");
    assert!(
        run.stdout
            .contains("FAIL  migrations applied: V0001__create_users is pending"),
        "{run}"
    );

    fixture.xtask(&["migrate"]).assert_ok();
    let run = fixture.xtask(&["health-check", "--url", &answer_once(200)]);
    run.assert_ok();
    assert_eq!(run.stdout.lines().count(), 4, "{run}");
    assert!(run.stdout.contains("ok    backend ready:"), "{run}");

    let run = fixture.xtask(&["health-check", "--url", &answer_once(503)]);
    run.assert_user_error(&["health check failed: backend ready"]);
    assert!(run.stdout.contains("schema at version 6"), "{run}");
}
