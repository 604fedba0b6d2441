//! No password reaches any output, log, report or file, the backend's included.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{isolated, Cluster};
use crate::support::backend::Backend;
use crate::support::{run, workspace_root, Fixture, Run};

/// The backend serving `database_url`, everything it says going to `log`.
fn logged_backend(database_url: &str, log: &Path) -> (Backend, String) {
    let file = std::fs::File::create(log).unwrap();
    let backend = Backend::start(database_url, |command| {
        command
            .env("RUST_LOG", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
    });
    let base = backend.base.clone();
    (backend, base)
}

/// Every file under `dir`, as text (lossy for binary archives).
fn every_file(dir: &Path) -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (
                entry.path().to_path_buf(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

#[test]
fn no_password_reaches_any_output_log_report_or_file() {
    let cluster = Cluster::start();
    let role = "libpq_secret";
    // Every form the password takes (raw, percent-encoded) holds this.
    let token = "Sekret-8813";
    let password = format!("{token}:x\\y");
    cluster.role_with_database(role, &password);
    let url = cluster.url(role, &password);
    let fixture = Fixture::with_project_migrations();
    std::fs::copy(
        workspace_root().join("migrations/schema.snapshot"),
        fixture.work.path().join("schema.snapshot"),
    )
    .unwrap();
    let mut outputs = Outputs::default();
    every_command_with_the_url(&fixture, &url, &mut outputs);
    let wrong = cluster.url(role, "Sekret-8813-wrong");
    let refused = with_url(&fixture, &["migrate"], &wrong);
    refused.assert_user_error(&[&format!("rejected the password for user \"{role}\"")]);
    outputs.record("migrate with a wrong password", refused, false);
    on_the_command_line_it_warns_once(&fixture, &url, &mut outputs);
    the_alias_echoes_no_command_line(&fixture, &url, &mut outputs);
    the_backend_ready_and_refused(&fixture, &url, &wrong, &mut outputs);

    let mut leaks = Vec::new();
    for (what, outcome) in &outputs.0 {
        if outcome.all_output().contains(token) {
            leaks.push(format!("output of {what}:\n{outcome}"));
        }
    }
    leaks.extend(files_holding(fixture.work.path(), role, token));
    assert!(
        leaks.is_empty(),
        "the password leaked:\n{}",
        leaks.join("\n")
    );
}

/// What each command printed, by what it was.
#[derive(Default)]
struct Outputs(Vec<(String, Run)>);

impl Outputs {
    /// Keeps `outcome`, after checking it succeeded when `ok`.
    fn record(&mut self, what: &str, outcome: Run, ok: bool) {
        if ok {
            outcome.assert_ok();
        }
        self.0.push((what.to_owned(), outcome));
    }
}

/// The command with `url` in `DATABASE_URL` and nothing else inherited.
fn with_url(fixture: &Fixture, args: &[&str], url: &str) -> Run {
    let mut command = isolated(fixture, args);
    command.env("DATABASE_URL", url);
    run(command)
}

/// `migrate`, `status` (text and JSON), `deploy-db` and `backup --verify`, all succeeding.
fn every_command_with_the_url(fixture: &Fixture, url: &str, outputs: &mut Outputs) {
    let work = fixture.work.path();
    let path = |name: &str| work.join(name).to_str().unwrap().to_owned();
    outputs.record(
        "migrate",
        with_url(fixture, &["migrate", "--target", "3"], url),
        true,
    );
    outputs.record("status", with_url(fixture, &["status"], url), true);
    outputs.record(
        "status json",
        with_url(fixture, &["status", "--format", "json"], url),
        true,
    );
    let mut deploy = isolated(
        fixture,
        &[
            "deploy-db",
            "--yes",
            "--dir",
            &fixture.dir().to_string_lossy(),
            "--log",
            &fixture.log_path().to_string_lossy(),
            "--backup-dir",
            &path("deploy-backups"),
            "--report",
            &path("reports"),
        ],
    );
    deploy.env("DATABASE_URL", url);
    outputs.record("deploy-db", run(deploy), true);
    outputs.record(
        "backup",
        with_url(
            fixture,
            &["backup", "--verify", "--out", &path("backups")],
            url,
        ),
        true,
    );
}

/// On the command line: it works, with exactly one warning pointing elsewhere.
fn on_the_command_line_it_warns_once(fixture: &Fixture, url: &str, outputs: &mut Outputs) {
    let flagged = run(isolated(fixture, &["status", "--database-url", url]));
    flagged.assert_ok();
    let warnings = flagged
        .stderr
        .lines()
        .filter(|line| {
            line.starts_with("warning: ")
                && line.contains("DATABASE_URL, PGPASSWORD or the password file")
        })
        .count();
    assert_eq!(warnings, 1, "{flagged}");
    outputs.record("status --database-url", flagged, true);
}

/// As a user types it: `cargo xtask` (the alias) echoes no command line.
fn the_alias_echoes_no_command_line(fixture: &Fixture, url: &str, outputs: &mut Outputs) {
    let mut alias = Command::new(env!("CARGO"));
    alias
        .current_dir(workspace_root())
        .args(["xtask", "status", "--dir"])
        .arg(fixture.dir())
        .args(["--database-url", url])
        .env_remove("DATABASE_URL");
    let aliased = run(alias);
    assert!(aliased.stdout.contains("applied"), "{aliased}");
    outputs.record("cargo xtask status --database-url", aliased, true);
}

/// The backend's log, ready and with a wrong password.
fn the_backend_ready_and_refused(fixture: &Fixture, url: &str, wrong: &str, outputs: &mut Outputs) {
    let work = fixture.work.path();
    let (ready_backend, ready_url) = logged_backend(url, &work.join("backend.log"));
    outputs.record(
        "health-check with the backend",
        with_url(
            fixture,
            &["health-check", "--url", &ready_url, "--wait", "60s"],
            url,
        ),
        true,
    );
    let (wrong_backend, wrong_url) = logged_backend(wrong, &work.join("backend-wrong.log"));
    let unready = with_url(
        fixture,
        &["health-check", "--url", &wrong_url, "--wait", "2s"],
        url,
    );
    assert_eq!(unready.code, 1, "{unready}");
    outputs.record("health-check with a refused backend", unready, false);
    drop((ready_backend, wrong_backend));
}

/// The files under `work` holding `token`, after checking the logs and a report were written
/// and the refused backend logged why.
fn files_holding(work: &Path, role: &str, token: &str) -> Vec<String> {
    let files = every_file(work);
    for name in ["migrations.log", "backend.log", "backend-wrong.log"] {
        assert!(
            files.iter().any(|(file, _)| file.ends_with(name)),
            "{name} was written"
        );
    }
    assert!(files
        .iter()
        .any(|(file, _)| file.starts_with(work.join("reports"))));
    let refused_log = &files
        .iter()
        .find(|(file, _)| file.ends_with("backend-wrong.log"))
        .unwrap()
        .1;
    assert!(
        refused_log.contains(&format!(
            "password authentication failed for user \"{role}\""
        )),
        "the refused backend logged why:\n{refused_log}"
    );
    files
        .into_iter()
        .filter(|(_, text)| text.contains(token))
        .map(|(file, _)| format!("file {}", file.display()))
        .collect()
}
