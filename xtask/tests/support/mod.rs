//! Test support: every test gets its own scratch database on the real server, its own migrations
//! folder and its own working directory, so tests run in parallel and share nothing.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod backend;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migrations::{DatabaseUrl, ScratchDatabase};
use postgres::Client;
use tempfile::TempDir;

/// The server tests run against: `BOMIZZEL_TEST_SERVER`, else the local one `.ci/run` starts.
pub fn server() -> DatabaseUrl {
    std::env::var("BOMIZZEL_TEST_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
        .parse()
        .expect("BOMIZZEL_TEST_SERVER is a valid URL")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub struct Fixture {
    pub db: ScratchDatabase,
    pub work: TempDir,
}

/// What a finished `cargo xtask` process said.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// A failure that the user caused: exit 1 and exactly one `error:` message on stderr.
    pub fn assert_user_error(&self, needles: &[&str]) -> &Self {
        self.assert_error(1, needles)
    }

    /// Wrong usage: exit 2 and exactly one `error:` message on stderr.
    pub fn assert_usage_error(&self, needles: &[&str]) -> &Self {
        self.assert_error(2, needles)
    }

    fn assert_error(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}:\n{self}");
        let errors = self
            .stderr
            .lines()
            .filter(|line| line.starts_with("error: "))
            .count();
        assert_eq!(errors, 1, "expected exactly one error message:\n{self}");
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{self}"
            );
        }
        self
    }

    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Fixture {
    /// An empty database and an empty migrations folder.
    pub fn new() -> Fixture {
        Fixture::on(&server())
    }

    /// The same on another server (a cluster the test started).
    pub fn on(server: &DatabaseUrl) -> Fixture {
        let db = ScratchDatabase::create(server, "bomizzel_test").expect("create scratch database");
        let work = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(work.path().join("sql")).unwrap();
        Fixture { db, work }
    }

    /// An empty database and a copy of the project's real migrations.
    pub fn with_project_migrations() -> Fixture {
        Fixture::with_project_migrations_on(&server())
    }

    pub fn with_project_migrations_on(server: &DatabaseUrl) -> Fixture {
        let fixture = Fixture::on(server);
        for entry in std::fs::read_dir(workspace_root().join("migrations/sql")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, fixture.dir().join(path.file_name().unwrap())).unwrap();
        }
        fixture
    }

    pub fn dir(&self) -> PathBuf {
        self.work.path().join("sql")
    }

    pub fn log_path(&self) -> PathBuf {
        self.work.path().join("migrations.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Writes a migration file into the folder.
    pub fn write(&self, file: &str, sql: &str) -> &Self {
        std::fs::write(self.dir().join(file), sql).unwrap();
        self
    }

    /// Writes `V{version}__{name}.sql` with documentation and its down file.
    pub fn migration(&self, version: i32, name: &str, up: &str, down: &str) -> &Self {
        let header =
            "-- Purpose: test\n-- Risk: none\n-- Rollback: down file\n-- Performance: none\n";
        self.write(
            &format!("V{version:04}__{name}.sql"),
            &format!("{header}{up}\n"),
        );
        self.write(
            &format!("V{version:04}__{name}.down.sql"),
            &format!("{down}\n"),
        )
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir().join(file)).unwrap();
    }

    /// `cargo xtask ARGS` against this fixture's database (given through `DATABASE_URL`, so no
    /// password is ever on a command line) and folder.
    pub fn xtask(&self, args: &[&str]) -> Run {
        self.xtask_with(args, self.db.url())
    }

    pub fn xtask_with(&self, args: &[&str], url: &DatabaseUrl) -> Run {
        let mut command = self.command(args);
        command.env("DATABASE_URL", url.secret_conninfo());
        run(command)
    }

    /// The command with folder and log flags added, and no database chosen yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .current_dir(self.work.path())
            .env_remove("DATABASE_URL")
            .env_remove("DIRECT_DATABASE_URL");
        let takes_dir = matches!(
            args.first(),
            Some(
                &"migrate"
                    | &"rollback"
                    | &"status"
                    | &"new"
                    | &"verify"
                    | &"test-rollback-roundtrip"
                    | &"check-migrations"
                    | &"check-compat"
                    | &"health-check"
                    | &"repair"
            )
        ) || args.starts_with(&["schema", "dump"]);
        if takes_dir {
            command.arg("--dir").arg(self.dir());
        }
        if matches!(args.first(), Some(&"migrate" | &"rollback" | &"repair")) {
            command.arg("--log").arg(self.log_path());
        }
        command
    }

    pub fn client(&self) -> Client {
        self.db
            .url()
            .connect("bomizzel-test")
            .expect("connect to scratch database")
    }

    /// Versions in refinery's history table (empty when the table does not exist).
    pub fn applied(&self) -> Vec<i32> {
        migrations::history::read(&mut self.client())
            .unwrap()
            .applied
            .keys()
            .copied()
            .collect()
    }

    /// User tables, views and functions: what a migration may have left behind.
    pub fn objects(&self) -> Vec<String> {
        self.client()
            .query(
                "SELECT c.relkind::text || ' ' || c.relname FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'i', 'S')
                   AND c.relname NOT LIKE 'refinery_schema_history%'
                   AND c.relname NOT LIKE 'bomizzel_migration_state%'
                   AND c.relname NOT LIKE 'bomizzel_backfill_progress%'
                 UNION ALL
                 SELECT 'f ' || p.proname FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
                 ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

/// A login role whose password is `right-password`, in `bomizzel_password_required`: the role
/// ci/setup-postgres.sh makes the local server check passwords for (a server that checks
/// everyone's needs no such role). Dropped with this value.
pub struct PasswordRole {
    pub name: String,
    /// The fixture's database, as this role with the wrong password.
    pub wrong_url: DatabaseUrl,
    admin: DatabaseUrl,
}

impl PasswordRole {
    pub fn create(fixture: &Fixture) -> PasswordRole {
        let name = format!("{}_pw", fixture.db.name());
        fixture
            .client()
            .batch_execute(&format!(
                "DO $$ BEGIN
                     IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bomizzel_password_required') THEN
                         CREATE ROLE bomizzel_password_required NOLOGIN;
                     END IF;
                 END $$;
                 CREATE ROLE {name} LOGIN PASSWORD 'right-password' IN ROLE bomizzel_password_required"
            ))
            .unwrap();
        let url = fixture.db.url();
        let wrong_url = format!(
            "postgres://{name}:wrong-password@{}:{}/{}",
            url.host(),
            url.port(),
            fixture.db.name()
        )
        .parse()
        .unwrap();
        PasswordRole {
            name,
            wrong_url,
            admin: url.clone(),
        }
    }

    /// Whether the server refuses the wrong password. Where it accepts any (trust on loopback),
    /// the caller skips, outside CI only: CI's server is set up to check.
    pub fn server_checks_passwords(&self) -> bool {
        if self.wrong_url.connect("bomizzel-test").is_err() {
            return true;
        }
        let advice = "this server accepts any password on loopback; run `sudo bash ci/setup-postgres.sh` once";
        assert!(std::env::var_os("CI").is_none(), "{advice}");
        eprintln!("skipped: {advice}");
        false
    }
}

impl Drop for PasswordRole {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect("bomizzel-test") {
            let _ = client.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

pub fn run(mut command: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run xtask");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
