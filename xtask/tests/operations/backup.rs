//! `backup` then `restore` gives identical content, and `restore` overwrites only when told to.

use migrations::ScratchDatabase;

use super::{backups, contents, fixture_with_data, mode};
use crate::support::server;

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
