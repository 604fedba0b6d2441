//! `deploy-db --fleet`, `status --fleet` and `verify --fleet` on a fleet of real scratch
//! databases, each URL handed to the xtask only through the environment variable the fleet file
//! names.

mod support;

use std::path::PathBuf;
use std::process::Command;

use migrations::history;
use migrations::runner::{Event, Runner, Settings};
use migrations::{DatabaseUrl, Direction, ScratchDatabase};
use support::{run, server, Fixture, Run};

const DATABASES: usize = 20;
/// The database whose row makes V0003's constraint fail: the first one after the canary.
const OFFENDING: usize = 1;

struct Fleet {
    fixture: Fixture,
    databases: Vec<ScratchDatabase>,
}

impl Fleet {
    /// Twenty databases at V0001 with a few rows each, V0002 and V0003 pending; database 1 also
    /// holds a code V0003's CHECK refuses. `fleet.toml` beside the migrations folder lists them,
    /// database 0 as the canary.
    fn new() -> Fleet {
        let fixture = Fixture::new();
        fixture
            .migration(
                1,
                "create_accounts",
                "CREATE TABLE accounts (id int PRIMARY KEY, code text NOT NULL);",
                "DROP TABLE accounts;",
            )
            .migration(
                2,
                "add_note",
                "ALTER TABLE accounts ADD COLUMN note text;",
                "ALTER TABLE accounts DROP COLUMN note;",
            )
            .migration(
                3,
                "short_codes",
                "ALTER TABLE accounts ADD CONSTRAINT accounts_code_short CHECK (length(code) <= 8);",
                "ALTER TABLE accounts DROP CONSTRAINT accounts_code_short;",
            );
        fixture.xtask(&["schema", "dump"]).assert_ok();
        let set = migrations::load_dir(&fixture.dir()).unwrap();
        let databases: Vec<ScratchDatabase> = (0..DATABASES)
            .map(|_| ScratchDatabase::create(&server(), "bomizzel_fleet").unwrap())
            .collect();
        let mut toml = String::new();
        for (index, database) in databases.iter().enumerate() {
            let mut client = database.url().connect("bomizzel-test").unwrap();
            history::ensure_tables(&mut client).unwrap();
            Runner::new(&mut client, Settings::default())
                .run(
                    &[&set.migrations[0]],
                    Direction::Up,
                    &mut |_: &Event<'_>| {},
                )
                .unwrap();
            client
                .batch_execute("INSERT INTO accounts VALUES (1, 'alpha'), (2, 'beta')")
                .unwrap();
            if index == OFFENDING {
                client
                    .batch_execute("INSERT INTO accounts VALUES (3, 'far-too-long-a-code')")
                    .unwrap();
            }
            toml.push_str(&format!(
                "[[database]]\nname = \"{}\"\nurl_env = \"{}\"\n{}\n",
                name(index),
                variable(index),
                if index == 0 { "canary = true\n" } else { "" }
            ));
        }
        std::fs::write(fixture.work.path().join("fleet.toml"), toml).unwrap();
        Fleet { fixture, databases }
    }

    /// `cargo xtask ARGS` with every database's URL in its variable.
    fn xtask(&self, args: &[&str]) -> Run {
        run(self.command(args))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.fixture.command(args);
        for (index, database) in self.databases.iter().enumerate() {
            command.env(variable(index), database.url().secret_conninfo());
        }
        command
    }

    fn deploy(&self) -> Run {
        let work = self.fixture.work.path();
        let mut command = self.command(&[
            "deploy-db",
            "--fleet",
            "--parallel",
            "4",
            "--yes",
            "--maintenance-window",
            "--rollback-on-failure",
        ]);
        command
            .arg("--dir")
            .arg(self.fixture.dir())
            .arg("--log")
            .arg(self.fixture.log_path())
            .arg("--backup-dir")
            .arg(work.join("backups"))
            .arg("--report")
            .arg(work.join("reports"));
        run(command)
    }

    /// The newest fleet summary in the report folder.
    fn summary(&self) -> serde_json::Value {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.fixture.work.path().join("reports"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with("fleet-") && name.ends_with(".json")
            })
            .collect();
        found.sort();
        let newest = found.last().expect("a fleet summary");
        assert!(newest.with_extension("txt").is_file(), "the text beside it");
        serde_json::from_str(&std::fs::read_to_string(newest).unwrap()).unwrap()
    }

    fn applied(&self, index: usize) -> Vec<i32> {
        let mut client = self.databases[index]
            .url()
            .connect("bomizzel-test")
            .unwrap();
        history::read(&mut client)
            .unwrap()
            .applied
            .keys()
            .copied()
            .collect()
    }
}

fn name(index: usize) -> String {
    format!("tenant_{index:02}")
}

fn variable(index: usize) -> String {
    format!("FLEET_TEST_TENANT_{index:02}_URL")
}

fn text(value: &serde_json::Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string: {value}"))
}

#[test]
fn a_fleet_deploys_the_canary_first_stops_at_a_failure_and_resumes() {
    let fleet = Fleet::new();
    let (first, summary) = the_first_deploy_fails_at_the_offending_database(&fleet);
    let rows = summary["databases"].as_array().unwrap();
    let started: Vec<&serde_json::Value> =
        rows.iter().filter(|row| !row["order"].is_null()).collect();
    the_canary_ran_first_and_alone(rows, &started);
    let failed = &rows[OFFENDING];
    the_failure_was_rolled_back_as_its_deploy_db_does(&fleet, failed);
    at_most_four_ran_at_once(&started);
    nothing_started_after_the_failure(&fleet, rows, &started, failed, &first);
    let deployed_before = status_shows_every_version_and_pending_count(&fleet, rows);
    the_same_command_resumes_once_the_cause_is_removed(&fleet, &deployed_before);
    every_database_verifies_at_the_head(&fleet);
}

/// `verify --fleet`: every database at version 3, nothing pending, no check failed.
fn every_database_verifies_at_the_head(fleet: &Fleet) {
    let verify = fleet.xtask(&["verify", "--fleet", "--format", "json"]);
    verify.assert_ok();
    let verified: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    let rows = verified["databases"].as_array().unwrap();
    assert_eq!(rows.len(), DATABASES);
    for row in rows {
        assert_eq!(row["version"], 3, "{row}");
        assert_eq!(row["pending"], 0, "{row}");
        assert_eq!(row["verify_failed"], serde_json::json!([]), "{row}");
    }
}

/// The first deploy: the failed database rolled back (deploy-db's exit code 3), every line
/// carrying its database's name, a summary row per database in the fleet file's order.
fn the_first_deploy_fails_at_the_offending_database(fleet: &Fleet) -> (Run, serde_json::Value) {
    let first = fleet.deploy();
    assert_eq!(first.code, 3, "{first}");
    assert!(
        first
            .stderr
            .contains(&format!("{}: rolled_back", name(OFFENDING))),
        "{first}"
    );
    // Every line of a database's deploy carries its name.
    for index in [0, OFFENDING] {
        assert!(
            first
                .stdout
                .contains(&format!("{} | ==> migrate", name(index))),
            "{first}"
        );
    }
    let summary = fleet.summary();
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["head"], 3);
    assert_eq!(summary["parallel"], 4);
    let rows = summary["databases"].as_array().unwrap();
    assert_eq!(rows.len(), DATABASES);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row["name"], name(index), "rows in the fleet file's order");
    }
    (first, summary)
}

/// The canary first, alone: it finished before any other database started.
fn the_canary_ran_first_and_alone(rows: &[serde_json::Value], started: &[&serde_json::Value]) {
    let canary = &rows[0];
    assert_eq!(canary["canary"], true);
    assert_eq!(canary["order"], 1);
    assert_eq!(canary["outcome"], "deployed", "{canary}");
    for row in &started[1..] {
        assert!(
            text(&row["started_at"]) >= text(&canary["finished_at"]),
            "{row}"
        );
    }
}

/// The failure: rolled back as its own deploy-db does, with its backup and report.
fn the_failure_was_rolled_back_as_its_deploy_db_does(fleet: &Fleet, failed: &serde_json::Value) {
    assert_eq!(failed["outcome"], "rolled_back", "{failed}");
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["version_before"], 1);
    assert_eq!(failed["version_after"], 1);
    assert!(
        text(&failed["error"]).contains("accounts_code_short"),
        "{failed}"
    );
    assert!(PathBuf::from(text(&failed["backup"])).is_file());
    assert!(PathBuf::from(text(&failed["report"])).is_file());
    assert_eq!(fleet.applied(OFFENDING), vec![1]);
}

/// At most four at once, and more than one: each start saw at most three others running.
fn at_most_four_ran_at_once(started: &[&serde_json::Value]) {
    let mut most = 0;
    for row in &started[1..] {
        let at = text(&row["started_at"]);
        let running = started[1..]
            .iter()
            .filter(|other| text(&other["started_at"]) <= at && at < text(&other["finished_at"]))
            .count();
        most = most.max(running);
    }
    assert!((2..=4).contains(&most), "{most} ran at once");
}

/// The stop: nothing started after the failure ended; the rest were never started.
fn nothing_started_after_the_failure(
    fleet: &Fleet,
    rows: &[serde_json::Value],
    started: &[&serde_json::Value],
    failed: &serde_json::Value,
    first: &Run,
) {
    let mut not_started = 0;
    for (index, row) in rows.iter().enumerate() {
        match text(&row["outcome"]) {
            "not_started" => {
                not_started += 1;
                assert!(row["order"].is_null() && row["backup"].is_null(), "{row}");
                assert!(row["version_before"].is_null(), "{row}");
                assert_eq!(fleet.applied(index), vec![1], "{row}");
            }
            "deployed" => {
                assert!(
                    text(&row["started_at"]) <= text(&failed["finished_at"]),
                    "{row}"
                );
                assert_eq!(row["version_before"], 1);
                assert_eq!(row["version_after"], 3);
                assert!(PathBuf::from(text(&row["backup"])).is_file(), "{row}");
                assert_eq!(fleet.applied(index), vec![1, 2, 3]);
            }
            "rolled_back" => assert_eq!(index, OFFENDING),
            other => panic!("unexpected outcome {other}: {row}"),
        }
    }
    assert!(not_started > 0, "{first}");
    let mut orders: Vec<u64> = started
        .iter()
        .map(|row| row["order"].as_u64().unwrap())
        .collect();
    orders.sort_unstable();
    assert_eq!(orders, (1..=started.len() as u64).collect::<Vec<_>>());
}

/// status --fleet: one table, every database's version and pending count. Returns the databases deployed by then.
fn status_shows_every_version_and_pending_count(
    fleet: &Fleet,
    rows: &[serde_json::Value],
) -> Vec<usize> {
    let status = fleet.xtask(&["status", "--fleet"]);
    status.assert_ok();
    let deployed_before: Vec<usize> = (0..DATABASES)
        .filter(|&index| rows[index]["outcome"] == "deployed")
        .collect();
    for index in 0..DATABASES {
        let (version, pending) = if deployed_before.contains(&index) {
            (3, 0)
        } else {
            (1, 2)
        };
        let line = status
            .stdout
            .lines()
            .find(|line| line.starts_with(&name(index)))
            .unwrap_or_else(|| panic!("{status}"));
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            columns[1..4],
            [version.to_string().as_str(), &pending.to_string(), "clean"],
            "{line}"
        );
    }
    deployed_before
}

/// The cause removed, the same command resumes: those at the head are skipped.
fn the_same_command_resumes_once_the_cause_is_removed(fleet: &Fleet, deployed_before: &[usize]) {
    fleet.databases[OFFENDING]
        .url()
        .connect("bomizzel-test")
        .unwrap()
        .batch_execute("UPDATE accounts SET code = 'gamma' WHERE id = 3")
        .unwrap();
    let second = fleet.deploy();
    second.assert_ok();
    let summary = fleet.summary();
    assert_eq!(summary["outcome"], "deployed");
    assert_eq!(summary["exit_code"], 0);
    let rows = summary["databases"].as_array().unwrap();
    for (index, row) in rows.iter().enumerate() {
        if deployed_before.contains(&index) {
            assert_eq!(row["outcome"], "skipped", "{row}");
            assert_eq!(row["version_before"], 3);
            assert!(row["backup"].is_null(), "{row}");
        } else {
            assert_eq!(row["outcome"], "deployed", "{row}");
            assert_eq!(row["version_before"], 1);
            assert!(PathBuf::from(text(&row["backup"])).is_file(), "{row}");
        }
        assert_eq!(row["version_after"], 3);
        assert_eq!(fleet.applied(index), vec![1, 2, 3]);
    }
}

#[test]
fn a_fleet_file_naming_an_unset_variable_or_a_url_is_refused_before_anything_runs() {
    let fixture = Fixture::new();
    fixture.migration(
        1,
        "create_accounts",
        "CREATE TABLE accounts (id int PRIMARY KEY);",
        "DROP TABLE accounts;",
    );
    let file = fixture.work.path().join("tenants.toml");
    std::fs::write(
        &file,
        "[[database]]\nname = \"first\"\nurl_env = \"FLEET_TEST_SET_URL\"\n\n\
         [[database]]\nname = \"second\"\nurl_env = \"FLEET_TEST_UNSET_URL\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let with_env = |args: &[&str]| {
        let mut command = fixture.command(args);
        command
            .env("FLEET_TEST_SET_URL", fixture.db.url().secret_conninfo())
            .env_remove("FLEET_TEST_UNSET_URL");
        if args[0] == "deploy-db" {
            command.arg("--dir").arg(fixture.dir());
        }
        run(command)
    };
    for args in [
        &["deploy-db", "--fleet", file, "--yes"][..],
        &["status", "--fleet", file],
        &["verify", "--fleet", file],
    ] {
        with_env(args).assert_user_error(&[
            "tenants.toml",
            "database `second`",
            "environment variable FLEET_TEST_UNSET_URL is not set",
        ]);
    }
    assert_eq!(fixture.objects(), Vec::<String>::new(), "nothing ran");
    assert!(fixture.applied().is_empty());

    // A URL written into the file is refused, and its password never repeated.
    let url: DatabaseUrl = "postgres://deploy:hunter2-secret@127.0.0.1:5432/tenant"
        .parse()
        .unwrap();
    std::fs::write(
        fixture.work.path().join("tenants.toml"),
        format!(
            "[[database]]\nname = \"first\"\nurl_env = \"FLEET_TEST_SET_URL\"\nurl = \"postgres://deploy:hunter2-secret@{}/tenant\"\n",
            url.server()
        ),
    )
    .unwrap();
    let refused = with_env(&["deploy-db", "--fleet", file, "--yes"]);
    refused.assert_user_error(&["database `first` gives `url`", "url_env"]);
    assert!(!refused.all_output().contains("hunter2"), "{refused}");

    // A syntax error says where, without quoting the line.
    std::fs::write(
        fixture.work.path().join("tenants.toml"),
        "[[database]]\nname = \"first\"\nurl_env = postgres://deploy:hunter2-secret@db/tenant\n",
    )
    .unwrap();
    let refused = with_env(&["status", "--fleet", file]);
    refused.assert_user_error(&["tenants.toml, line 3"]);
    assert!(!refused.all_output().contains("hunter2"), "{refused}");
}
