//! `check-compat`: the previous release's own queries, prepared on the new head schema.

mod support;

use std::path::Path;
use std::process::Command;

use support::{workspace_root, Fixture};

/// A git repository whose tag `v1` is a release: this workspace's `.sqlx/` query files plus
/// `queries` (file stem, SQL), and the migrations `fixture` has now.
fn release_repo(fixture: &Fixture, queries: &[(&str, &str)]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let sqlx = repo.path().join(".sqlx");
    std::fs::create_dir(&sqlx).unwrap();
    for entry in std::fs::read_dir(workspace_root().join(".sqlx")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, sqlx.join(path.file_name().unwrap())).unwrap();
    }
    for (stem, sql) in queries {
        std::fs::write(
            sqlx.join(format!("{stem}.json")),
            format!(
                r#"{{"db_name": "PostgreSQL", "query": "{sql}", "describe": {{"columns": [], "parameters": {{"Left": []}}, "nullable": []}}}}"#
            ),
        )
        .unwrap();
    }
    let migrations = repo.path().join("migrations/sql");
    std::fs::create_dir_all(&migrations).unwrap();
    for entry in std::fs::read_dir(fixture.dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
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
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(&fixture, &[]);
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
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(&fixture, &[]);
    fixture.migration(
        90,
        "add_ticket_due_at",
        "ALTER TABLE tickets ADD COLUMN due_at timestamptz;",
        "ALTER TABLE tickets DROP COLUMN due_at;",
    );
    let run = check(&fixture, repo.path());
    run.assert_ok();
    assert!(run.stdout.contains("every query of v1 prepares"), "{run}");
    // Every one of the backend's queries ran, its parameters shaped by the columns they feed
    // (a valid email, an existing parent's key, a row that is there to update).
    let ran = run
        .stdout
        .split(" queries ran with generated values")
        .next()
        .and_then(|head| head.rsplit('(').next())
        .unwrap_or_default();
    let (executed, total) = ran.split_once(" of ").expect("the coverage is printed");
    assert_eq!(executed, total, "{run}");
}

#[test]
fn a_type_change_of_a_returned_column_fails() {
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(&fixture, &[]);
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

#[test]
fn an_old_insert_that_leaves_out_a_new_not_null_column_fails_naming_column_and_migration() {
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(&fixture, &[]);
    fixture.migration(
        90,
        "add_queue_sla_hours",
        "ALTER TABLE queues ADD COLUMN sla_hours integer NOT NULL;",
        "ALTER TABLE queues DROP COLUMN sla_hours;",
    );
    let run = check(&fixture, repo.path());
    run.assert_user_error(&["1 queries of the application at v1 break"]);
    assert!(
        run.stdout
            .contains("violates not-null constraint (column queues.sla_hours)"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("broken by V0090__add_queue_sla_hours.sql"),
        "{run}"
    );
    assert!(run.stdout.contains("query: INSERT INTO queues"), "{run}");
}

#[test]
fn an_old_update_a_new_check_refuses_fails_naming_the_constraint() {
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(
        &fixture,
        &[(
            "query-reprioritize",
            "UPDATE tickets SET priority = $2 WHERE id = $1",
        )],
    );
    fixture.migration(
        90,
        "retire_priority_one",
        "ALTER TABLE tickets ADD CONSTRAINT tickets_priority_not_one CHECK (priority <> 1);",
        "ALTER TABLE tickets DROP CONSTRAINT tickets_priority_not_one;",
    );
    let run = check(&fixture, repo.path());
    run.assert_user_error(&["break on the new migrations"]);
    assert!(
        run.stdout.contains(
            "v1:.sqlx/query-reprioritize.json: new row for relation \"tickets\" violates check constraint \"tickets_priority_not_one\""
        ),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("(constraint tickets_priority_not_one of tickets)\n    broken by V0090__retire_priority_one.sql"),
        "{run}"
    );
}

#[test]
fn a_new_not_null_column_with_a_default_passes() {
    let fixture = Fixture::with_project_migrations();
    let repo = release_repo(&fixture, &[]);
    fixture.migration(
        90,
        "add_queue_sla_hours",
        "ALTER TABLE queues ADD COLUMN sla_hours integer NOT NULL DEFAULT 24;",
        "ALTER TABLE queues DROP COLUMN sla_hours;",
    );
    let run = check(&fixture, repo.path());
    run.assert_ok();
    assert!(run.stdout.contains("every query of v1 prepares"), "{run}");
}

/// Labels whose ids generated rows never reach (they start at 1000), and a link table without
/// foreign keys yet.
fn labels_release(fixture: &Fixture, queries: &[(&str, &str)]) -> tempfile::TempDir {
    fixture.migration(
        89,
        "create_ticket_labels",
        "CREATE TABLE labels (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000) PRIMARY KEY, name text NOT NULL);\n\
         CREATE TABLE ticket_labels (ticket_id bigint NOT NULL, label_id bigint NOT NULL);",
        "DROP TABLE ticket_labels;\nDROP TABLE labels;",
    );
    release_repo(fixture, queries)
}

#[test]
fn a_new_foreign_key_that_refuses_only_a_generated_id_is_not_a_break() {
    let fixture = Fixture::with_project_migrations();
    let repo = labels_release(
        &fixture,
        &[(
            "query-label-ticket",
            "INSERT INTO ticket_labels (ticket_id, label_id) VALUES ($1, $2)",
        )],
    );
    fixture.migration(
        90,
        "reference_labels",
        "ALTER TABLE ticket_labels ADD CONSTRAINT ticket_labels_label_fkey FOREIGN KEY (label_id) REFERENCES labels (id) NOT VALID;",
        "ALTER TABLE ticket_labels DROP CONSTRAINT ticket_labels_label_fkey;",
    );
    let run = check(&fixture, repo.path());
    run.assert_ok();
    assert!(run.stdout.contains("every query of v1 prepares"), "{run}");
}

#[test]
fn an_old_delete_a_new_foreign_key_refuses_fails() {
    let fixture = Fixture::with_project_migrations();
    let repo = labels_release(
        &fixture,
        &[("query-delete-ticket", "DELETE FROM tickets WHERE id = $1")],
    );
    fixture.migration(
        90,
        "reference_tickets",
        "ALTER TABLE ticket_labels ADD CONSTRAINT ticket_labels_ticket_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id) NOT VALID;",
        "ALTER TABLE ticket_labels DROP CONSTRAINT ticket_labels_ticket_fkey;",
    );
    let run = check(&fixture, repo.path());
    run.assert_user_error(&["1 queries of the application at v1 break"]);
    assert!(
        run.stdout.contains(
            "v1:.sqlx/query-delete-ticket.json: update or delete on table \"tickets\" violates foreign key constraint \"ticket_labels_ticket_fkey\""
        ),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("broken by V0090__reference_tickets.sql"),
        "{run}"
    );
}

#[test]
fn a_release_without_migrations_is_refused() {
    let fixture = Fixture::new();
    let repo = release_repo(&fixture, &[]);
    let run = check(&Fixture::with_project_migrations(), repo.path());
    run.assert_user_error(&["v1 has no migrations in migrations/sql/"]);
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
    assert_eq!(run.stdout.lines().count(), 5, "{run}");
    assert!(run.stdout.contains("ok    backend ready:"), "{run}");

    let run = fixture.xtask(&["health-check", "--url", &answer_once(503)]);
    run.assert_user_error(&["health check failed: backend ready"]);
    assert!(run.stdout.contains("schema at version 6"), "{run}");
}
