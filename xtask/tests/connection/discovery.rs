//! Finding the database without a URL: libpq's `PG*` variables, the password file, and several
//! hosts of which one is up.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{isolated, pgpass_line, write_private, Cluster};
use crate::support::{run, server, Fixture};

#[test]
fn libpq_variables_and_the_password_file_alone_reach_a_password_checked_role() {
    let cluster = Cluster::start();
    let role = "libpq_app";
    let password = "Sekret-4417:a\\b";
    cluster.role_with_database(role, password);
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_things",
        "CREATE TABLE things (id int);",
        "DROP TABLE things;",
    );
    let port = cluster.port.to_string();
    let pgpass = fixture.work.path().join(".pgpass");
    write_private(
        &pgpass,
        &format!(
            "# another database first, then a line with escapes\n{}{}",
            pgpass_line(["127.0.0.1", &port, "otherdb", role, "not-this-one"]),
            pgpass_line(["127.0.0.1", &port, role, role, password])
        ),
        0o600,
    );
    the_variables_and_the_password_file_suffice(&fixture, &port, role);
    pgpassfile_names_another_file_that_must_be_private(&fixture, &port, role, password, &pgpass);
    pgpassword_comes_first_and_is_not_printed(&fixture, &port, role);
}

/// The command with only libpq's variables naming the cluster, the role and its database.
fn libpq(fixture: &Fixture, port: &str, role: &str, args: &[&str]) -> Command {
    let mut command = isolated(fixture, args);
    command
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port)
        .env("PGUSER", role)
        .env("PGDATABASE", role);
    command
}

/// `migrate`, `backup` and `status` reach the role, print no password and warn of nothing.
fn the_variables_and_the_password_file_suffice(fixture: &Fixture, port: &str, role: &str) {
    let migrated = run(libpq(fixture, port, role, &["migrate"]));
    migrated.assert_ok();
    let backups = fixture.work.path().join("backups");
    let backed_up = run({
        let mut command = libpq(fixture, port, role, &["backup", "--out"]);
        command.arg(&backups);
        command
    });
    backed_up.assert_ok();
    let status = run(libpq(fixture, port, role, &["status"]));
    status.assert_ok();
    assert!(status.stdout.contains("applied"), "{status}");
    for output in [&migrated, &backed_up, &status] {
        assert!(!output.all_output().contains("Sekret"), "{output}");
        assert!(!output.stderr.contains("warning"), "{output}");
    }
}

/// PGPASSFILE names another file; ~/.pgpass is not read then. Group-readable, it is ignored.
fn pgpassfile_names_another_file_that_must_be_private(
    fixture: &Fixture,
    port: &str,
    role: &str,
    password: &str,
    pgpass: &Path,
) {
    let elsewhere = fixture.work.path().join("elsewhere.pgpass");
    write_private(
        &elsewhere,
        &pgpass_line(["*", "*", "*", role, password]),
        0o600,
    );
    std::fs::remove_file(pgpass).unwrap();
    let mut command = libpq(fixture, port, role, &["status"]);
    command.env("PGPASSFILE", &elsewhere);
    run(command).assert_ok();

    // Group-readable: ignored with a warning, so the server's password request goes unanswered.
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut command = libpq(fixture, port, role, &["status"]);
    command.env("PGPASSFILE", &elsewhere);
    let refused = run(command);
    refused.assert_user_error(&[&format!(
        "asks for a password for user \"{role}\" and none was given"
    )]);
    let warnings: Vec<&str> = refused
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{refused}");
    assert!(
        warnings[0].contains("is readable by its group or others (mode 640), so it is ignored"),
        "{refused}"
    );
}

/// PGPASSWORD comes before the file; a wrong one names the role, and is not printed.
fn pgpassword_comes_first_and_is_not_printed(fixture: &Fixture, port: &str, role: &str) {
    let mut command = libpq(fixture, port, role, &["status"]);
    command.env("PGPASSWORD", "Wrong-Sekret-9");
    let wrong = run(command);
    wrong.assert_user_error(&[&format!("rejected the password for user \"{role}\"")]);
    assert!(!wrong.all_output().contains("Wrong-Sekret"), "{wrong}");
}

#[test]
fn several_hosts_with_read_write_reach_the_one_that_is_up() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_things",
        "CREATE TABLE things (id int);",
        "DROP TABLE things;",
    );
    let main = server();
    let down = (5459..5470)
        .find(|port| TcpStream::connect(("127.0.0.1", *port)).is_err())
        .expect("a port nothing listens on");
    let hosts = format!("127.0.0.1,{}", main.host());
    let ports = format!("{down},{}", main.port());
    let shown = format!("127.0.0.1:{down},{}:{}", main.host(), main.port());

    let mut command = isolated(&fixture, &["migrate"]);
    command
        .env("PGHOST", &hosts)
        .env("PGPORT", &ports)
        .env("PGUSER", main.user())
        .env("PGDATABASE", fixture.db.name())
        .env("PGTARGETSESSIONATTRS", "read-write")
        .env("PGCONNECT_TIMEOUT", "5");
    let migrated = run(command);
    migrated.assert_ok();
    assert!(migrated.stdout.contains(&shown), "{migrated}");
    assert_eq!(fixture.applied(), vec![1]);

    // A key/value string in DATABASE_URL, and pg_dump handed the same host list.
    let mut command = isolated(&fixture, &["backup", "--out"]);
    command.arg(fixture.work.path().join("backups")).env(
        "DATABASE_URL",
        format!(
            "host={hosts} port={ports} user={} dbname={} target_session_attrs=read-write",
            main.user(),
            fixture.db.name()
        ),
    );
    run(command).assert_ok();

    // Every host down: the message names them all.
    let mut command = isolated(&fixture, &["status"]);
    command.env(
        "DATABASE_URL",
        format!("host=127.0.0.1,127.0.0.1 port={down},{down} user=x dbname=y connect_timeout=2"),
    );
    run(command).assert_user_error(&[&format!(
        "cannot reach PostgreSQL at 127.0.0.1:{down},127.0.0.1:{down}"
    )]);

    // Every host up but read-only (as standbys are): read-write refuses them all, by name.
    let mut command = isolated(&fixture, &["status"]);
    command.env(
        "DATABASE_URL",
        format!(
            "host={hosts} port={ports} user={} dbname={} target_session_attrs=read-write \
             options='-c default_transaction_read_only=on'",
            main.user(),
            fixture.db.name()
        ),
    );
    run(command).assert_user_error(&[&format!("no server of {shown} accepts writes")]);
}
