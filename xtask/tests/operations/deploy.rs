//! `deploy-db`: backs up, applies, verifies, checks health and reports; a failed migration or
//! health check is rolled back, and a risky migration is refused before anything is touched.

use std::path::{Path, PathBuf};

use super::{backups, contents, deploy, fixture_with_data, health_server, mode, report};
use crate::support::Fixture;

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

    let backup = one_private_backup_named_after_database_and_version(&fixture);
    the_report_lists_what_ran_the_backup_and_every_check(&fixture, &backup);
    the_log_records_each_step(&fixture);
    a_second_deploy_has_nothing_to_do(&fixture);
}

/// One backup, `<db>-<time>-v<version>.dump`, readable by its owner only. Returns its path.
fn one_private_backup_named_after_database_and_version(fixture: &Fixture) -> PathBuf {
    let files = backups(&fixture.work.path().join("backups"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("{}-", fixture.db.name())) && name.ends_with("-v1.dump"),
        "<db>-<time>-v<version>.dump: {name}"
    );
    assert_eq!(mode(&files[0]), 0o600);
    files[0].clone()
}

/// The JSON report: outcome, versions, each migration applied, the backup, every check passed.
fn the_report_lists_what_ran_the_backup_and_every_check(fixture: &Fixture, backup: &Path) {
    let first = report(fixture);
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
        std::fs::canonicalize(backup).unwrap().to_str().unwrap()
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
}

/// The migration log has the backup, each migration, the health check and the outcome.
fn the_log_records_each_step(fixture: &Fixture) {
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
}

/// Again: nothing pending, no second backup, still exit 0.
fn a_second_deploy_has_nothing_to_do(fixture: &Fixture) {
    std::fs::remove_dir_all(fixture.work.path().join("reports")).unwrap();
    let again = deploy(fixture, fixture.db.url(), &["--yes"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("is up to date at version 3"),
        "{again}"
    );
    assert_eq!(backups(&fixture.work.path().join("backups")).len(), 1);
    assert_eq!(report(fixture)["outcome"], "up_to_date");
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
