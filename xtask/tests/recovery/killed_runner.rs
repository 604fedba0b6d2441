//! A runner killed during `CREATE INDEX CONCURRENTLY`: the index finished, left invalid, or
//! still running; `migrate` waits for it or stops it, and points at `repair` when it cannot decide.

use std::io::{BufRead, BufReader};

use super::{
    backend_gone, eventually, finish, index_state, items_and_index, kill_runner_during_index_build,
    log_lines, spawn_xtask, state_of, Blocker, PLAIN_INDEX,
};

#[test]
fn a_killed_runner_whose_index_finished_is_recorded_applied() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    assert_eq!(
        state_of(&fixture, 2),
        "failed",
        "status shows the unfinished run"
    );
    blocker.release();
    eventually("the server finishes the index on its own", || {
        backend_gone(&fixture, orphan)
    });
    assert_eq!(index_state(&fixture), (true, true));

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("is valid and is what")
            && run.stdout.contains("recorded as applied")
            && !run.stdout.contains("up V0002"),
        "recorded without running it again:\n{run}"
    );
    assert_eq!(state_of(&fixture, 2), "applied");
    assert_eq!(fixture.applied(), [1, 2]);
    let recovered = log_lines(&fixture)
        .into_iter()
        .find(|line| line["outcome"] == "recovered")
        .expect("the recovery is in the migration log");
    assert_eq!(recovered["version"], 2);
    assert_eq!(recovered["settled_as"], "applied");
    assert!(recovered["applied_by"].as_str().unwrap().contains('@'));
    fixture.xtask(&["migrate"]).assert_ok();
}

#[test]
fn a_killed_runner_whose_index_was_left_invalid_is_cleaned_and_run_again() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    fixture
        .client()
        .execute("SELECT pg_terminate_backend($1)", &[&orphan])
        .unwrap();
    eventually("the build is stopped", || backend_gone(&fixture, orphan));
    blocker.release();
    assert_eq!(index_state(&fixture), (true, false), "an INVALID leftover");

    let run = fixture.xtask(&["migrate"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("is INVALID")
            && run.stdout.contains("dropped it, it runs again")
            && run.stdout.contains("up V0002"),
        "{run}"
    );
    assert_eq!(index_state(&fixture), (true, true));
    assert_eq!(state_of(&fixture, 2), "applied");
}

#[test]
fn migrate_waits_within_lock_wait_for_a_dead_runners_statement() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);

    let gave_up = fixture.xtask(&["migrate", "--lock-wait", "1s"]);
    gave_up.assert_user_error(&[
        "V0002__index_items_value is still running on the server",
        &format!("pid {orphan}"),
        "--stop-orphaned-run",
    ]);
    assert!(gave_up
        .stderr
        .contains("waiting up to 1s for V0002__index_items_value"));

    let mut waiting = spawn_xtask(&fixture, &["migrate", "--lock-wait", "1h"]);
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("waiting up to") {
        line.clear();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "no waiting line");
    }
    assert!(
        line.contains(&format!("pid {orphan}")) && line.contains("CREATE INDEX CONCURRENTLY"),
        "{line}"
    );
    blocker.release();
    let run = finish(waiting);
    run.assert_ok();
    assert!(run.stdout.contains("recorded as applied"), "{run}");
    assert_eq!(state_of(&fixture, 2), "applied");
    assert_eq!(index_state(&fixture), (true, true));
}

#[test]
fn stop_orphaned_run_cancels_a_dead_runners_statement_and_runs_it_again() {
    let fixture = items_and_index(PLAIN_INDEX);
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);

    let stopping = spawn_xtask(&fixture, &["migrate", "--stop-orphaned-run"]);
    eventually("the dead runner's statement is stopped", || {
        backend_gone(&fixture, orphan)
    });
    // The index is built again once nothing writes to the table any more.
    blocker.release();
    let run = finish(stopping);
    run.assert_ok();
    assert!(
        run.stdout.contains("stopping V0002__index_items_value")
            && run.stdout.contains("dropped it, it runs again"),
        "{run}"
    );
    assert_eq!(index_state(&fixture), (true, true));
    assert_eq!(state_of(&fixture, 2), "applied");
}

#[test]
fn what_recovery_cannot_decide_stops_migrate_and_points_at_repair() {
    let fixture = items_and_index("CREATE INDEX CONCURRENTLY ON items (value);");
    let blocker = Blocker::hold(&fixture);
    let orphan = kill_runner_during_index_build(&fixture);
    blocker.release();
    eventually("the server finishes the index on its own", || {
        backend_gone(&fixture, orphan)
    });

    fixture.xtask(&["migrate"]).assert_user_error(&[
        "V0002__index_items_value.sql did not finish",
        "its index has no name",
        "cargo xtask repair 2 --applied --reason TEXT",
    ]);
    fixture
        .xtask(&[
            "repair",
            "2",
            "--applied",
            "--reason",
            "items_value_idx is valid",
        ])
        .assert_user_error(&["cannot be checked", "--force"]);
    fixture
        .xtask(&[
            "repair",
            "2",
            "--applied",
            "--force",
            "--reason",
            "items_value_idx is valid",
        ])
        .assert_ok();
    assert_eq!(state_of(&fixture, 2), "applied");
    fixture.xtask(&["migrate"]).assert_ok();
}
