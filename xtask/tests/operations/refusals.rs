//! Wrong usage, a missing `pg_dump` and a wrong password each end with one clear line and the
//! documented exit code.

use std::os::unix::fs::PermissionsExt;

use super::{backups, deploy, fixture_with_data, report, written_text};
use crate::support::{run, Fixture, PasswordRole};

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
