//! The log's lines, byte for byte after the time: the keys, their order and nulls README's
//! migration-log section documents, for every kind of subject.

use std::path::Path;
use std::time::Duration;

use migrations::recovery::Settlement;
use migrations::Direction;

use super::{Archive, Entry, Journal, Outcome, Settled, Subject};

/// Each entry's line without its leading `{"time":"...",`.
fn lines(entries: &[Entry<'_>]) -> Vec<String> {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("migrations.log");
    let url = "postgres://deploy@db:5432/app".parse().unwrap();
    let mut journal = Journal::open(Some(&path), "migrate", &url).unwrap();
    for entry in entries {
        journal.record(entry).unwrap();
    }
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| line.split_once("Z\",").unwrap().1.to_owned())
        .collect()
}

#[test]
fn lines_keep_their_keys_order_and_nulls() {
    let applied = Entry {
        duration: Some(Duration::from_millis(12)),
        ..Entry::new(
            Subject::Migration {
                version: 7,
                name: "add_due_date",
                direction: Direction::Up,
            },
            Outcome::Applied,
        )
    };
    let refused = Entry {
        error: Some("no".into()),
        ..Entry::new(Subject::Command, Outcome::Refused)
    };
    let backed_up = Entry::new(
        Subject::Backup(Some(Archive {
            path: Path::new("/b/app.dump"),
            size_bytes: 42,
            schema_version: 6,
        })),
        Outcome::BackedUp,
    );
    let recovered = Entry {
        settled: Some(Settled {
            settlement: Settlement::NotApplied,
            applied_by: "me@host (bomizzel-xtask)",
            reason: None,
            evidence: "no index",
        }),
        ..Entry::new(
            Subject::Migration {
                version: 5,
                name: "index",
                direction: Direction::Up,
            },
            Outcome::Recovered,
        )
    };
    let expected = [
        r#""command":"migrate","database":"postgres://deploy@db:5432/app","version":7,"name":"add_due_date","direction":"up","duration_ms":12,"outcome":"applied","error":null}"#,
        r#""command":"migrate","database":"postgres://deploy@db:5432/app","version":null,"name":null,"direction":null,"duration_ms":null,"outcome":"refused","error":"no"}"#,
        r#""command":"migrate","database":"postgres://deploy@db:5432/app","version":6,"name":"backup /b/app.dump (42 bytes)","direction":null,"duration_ms":null,"outcome":"backed_up","error":null}"#,
        r#""command":"migrate","database":"postgres://deploy@db:5432/app","version":5,"name":"index","direction":"up","duration_ms":null,"outcome":"recovered","error":null,"settled_as":"not_applied","applied_by":"me@host (bomizzel-xtask)","evidence":"no index"}"#,
    ];
    assert_eq!(
        lines(&[applied, refused, backed_up, recovered]),
        expected.map(str::to_owned)
    );
}

#[test]
fn every_outcome_is_written_as_readme_spells_it() {
    let words = [
        (Outcome::Applied, "applied"),
        (Outcome::RolledBack, "rolled_back"),
        (Outcome::Failed, "failed"),
        (Outcome::Retrying, "retrying"),
        (Outcome::CleanedUp, "cleaned_up"),
        (Outcome::PausedForStandbys, "paused_for_standbys"),
        (Outcome::Resumed, "resumed"),
        (Outcome::StandbyNotWatched, "standby_not_watched"),
        (Outcome::Recovered, "recovered"),
        (Outcome::Repaired, "repaired"),
        (Outcome::RepairedForced, "repaired_forced"),
        (Outcome::Refused, "refused"),
        (Outcome::BackedUp, "backed_up"),
        (Outcome::Restored, "restored"),
        (Outcome::Passed, "passed"),
        (Outcome::Deployed, "deployed"),
        (Outcome::UpToDate, "up_to_date"),
        (Outcome::DryRun, "dry_run"),
        (Outcome::NotRolledBack, "not_rolled_back"),
    ];
    for (outcome, word) in words {
        assert_eq!(serde_json::to_value(outcome).unwrap(), word);
    }
}
