//! No password in any output, log, report, file written or process argument.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use migrations::{DatabaseUrl, ScratchDatabase};

use super::{backups, deploy, fixture_with_data, written_text};
use crate::support::{server, Fixture};

/// The password every command is given and none may show.
const SECRET: &str = "Pa55-word-xyz";

#[test]
fn no_password_in_output_log_report_files_or_any_process_arguments() {
    let fixture = fixture_with_data(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);",
        "DROP TABLE notes;",
    );
    let url = password_url_and_rows_enough_to_see_pg_dump(&fixture);

    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch_process_arguments(Arc::clone(&done));
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

/// The fixture's URL with `SECRET` as its password, and enough rows for pg_dump to run long
/// enough to be seen in /proc.
fn password_url_and_rows_enough_to_see_pg_dump(fixture: &Fixture) -> DatabaseUrl {
    // Enough rows for pg_dump to run long enough to be seen in /proc.
    fixture
        .client()
        .batch_execute(
            "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 4) AS body
             FROM generate_series(1, 200000) AS g",
        )
        .unwrap();
    // The local server trusts loopback, so any password is accepted: it still must not leak.
    fixture
        .db
        .url()
        .secret_conninfo()
        .replace("user=", &format!("password='{SECRET}' user="))
        .parse()
        .unwrap()
}

/// Reads every process's arguments until `done`: (those holding `SECRET`, saw pg_dump, saw
/// pg_restore).
fn watch_process_arguments(done: Arc<AtomicBool>) -> JoinHandle<(Vec<String>, bool, bool)> {
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
}
