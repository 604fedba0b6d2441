//! How commands find their database without a URL (libpq's `PG*` variables, the password file,
//! several hosts), that no password ever reaches an output or a file, and restores onto a server
//! that lacks the backup's roles. A second cluster that checks passwords is started by the tests
//! that need one (ports 5451-5459) and removed afterwards, even when the test fails.

mod support;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use migrations::DatabaseUrl;
use support::backend::Backend;
use support::{run, server, workspace_root, Fixture, Run};
use xshell::{cmd, Shell};

/// A PostgreSQL cluster of the test server's major version, checking the password of every role
/// but `postgres` on 127.0.0.1. Dropped (stopped, files removed) with this value.
struct Cluster {
    version: String,
    name: String,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        // Tests of this binary run in parallel: one at a time picks a port and claims it.
        static STARTING: Mutex<()> = Mutex::new(());
        let _claim = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let version: i32 = server()
            .connect("bomizzel-test")
            .expect("connect to the test server")
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .unwrap()
            .get(0);
        let version = version.to_string();
        let sh = Shell::new().unwrap();
        for port in 5451..=5459 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                continue;
            }
            let name = format!("bomizzel_libpq_{}_{port}", std::process::id());
            // Made before the cluster so that a half-made one is removed too.
            let cluster = Cluster {
                version: version.clone(),
                name: name.clone(),
                port,
            };
            let port_text = port.to_string();
            if cmd!(sh, "pg_createcluster {version} {name} -p {port_text}")
                .quiet()
                .ignore_stdout()
                .run()
                .is_err()
            {
                continue;
            }
            std::fs::write(
                format!("/etc/postgresql/{version}/{name}/pg_hba.conf"),
                "local all all peer\n\
                 host all postgres 127.0.0.1/32 trust\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
            if cmd!(
                sh,
                "pg_ctlcluster --skip-systemctl-redirect {version} {name} start"
            )
            .quiet()
            .run()
            .is_ok()
            {
                return cluster;
            }
        }
        panic!("no port of 5451-5459 is free for a second PostgreSQL cluster");
    }

    fn admin(&self) -> DatabaseUrl {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
            .parse()
            .unwrap()
    }

    /// A login role allowed to create databases, with `password` and its own database `name`.
    fn role_with_database(&self, name: &str, password: &str) {
        let mut client = self.admin().connect("bomizzel-test").unwrap();
        client
            .batch_execute(&format!(
                "CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'"
            ))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {name}"))
            .unwrap();
    }

    /// `postgres://name:password@127.0.0.1:port/name` (the password percent-encoded).
    fn url(&self, name: &str, password: &str) -> String {
        let encoded: String = password
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (byte as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("postgres://{name}:{encoded}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Ok(sh) = Shell::new() else { return };
        let (version, name) = (&self.version, &self.name);
        let _ = cmd!(sh, "pg_dropcluster --stop {version} {name}")
            .quiet()
            .ignore_stderr()
            .run();
    }
}

/// The command with no connection settings inherited (no `DATABASE_URL`, no `PG*` variable) and
/// `HOME` in the fixture's folder, so only what the test sets counts (`~/.pgpass` included).
fn isolated(fixture: &Fixture, args: &[&str]) -> Command {
    let mut command = fixture.command(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("PG") {
            command.env_remove(name);
        }
    }
    command.env("HOME", fixture.work.path());
    command
}

fn pgpass_line(fields: [&str; 5]) -> String {
    let escaped: Vec<String> = fields
        .iter()
        .map(|field| field.replace('\\', "\\\\").replace(':', "\\:"))
        .collect();
    escaped.join(":") + "\n"
}

fn write_private(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

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
    let libpq = |args: &[&str]| {
        let mut command = isolated(&fixture, args);
        command
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", &port)
            .env("PGUSER", role)
            .env("PGDATABASE", role);
        command
    };

    let migrated = run(libpq(&["migrate"]));
    migrated.assert_ok();
    let backups = fixture.work.path().join("backups");
    let backed_up = run({
        let mut command = libpq(&["backup", "--out"]);
        command.arg(&backups);
        command
    });
    backed_up.assert_ok();
    let status = run(libpq(&["status"]));
    status.assert_ok();
    assert!(status.stdout.contains("applied"), "{status}");
    for output in [&migrated, &backed_up, &status] {
        assert!(!output.all_output().contains("Sekret"), "{output}");
        assert!(!output.stderr.contains("warning"), "{output}");
    }

    // PGPASSFILE names another file; ~/.pgpass is not read then.
    let elsewhere = fixture.work.path().join("elsewhere.pgpass");
    write_private(
        &elsewhere,
        &pgpass_line(["*", "*", "*", role, password]),
        0o600,
    );
    std::fs::remove_file(&pgpass).unwrap();
    let mut command = libpq(&["status"]);
    command.env("PGPASSFILE", &elsewhere);
    run(command).assert_ok();

    // Group-readable: ignored with a warning, so the server's password request goes unanswered.
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut command = libpq(&["status"]);
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

    // PGPASSWORD comes before the file; a wrong one names the role, and is not printed.
    let mut command = libpq(&["status"]);
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
    let work = fixture.work.path();
    let path = |name: &str| work.join(name).to_str().unwrap().to_owned();
    let with_url = |args: &[&str], url: &str| {
        let mut command = isolated(&fixture, args);
        command.env("DATABASE_URL", url);
        run(command)
    };
    let mut outputs: Vec<(String, Run)> = Vec::new();
    let mut record = |what: &str, outcome: Run, ok: bool| {
        if ok {
            outcome.assert_ok();
        }
        outputs.push((what.to_owned(), outcome));
    };

    record(
        "migrate",
        with_url(&["migrate", "--target", "3"], &url),
        true,
    );
    record("status", with_url(&["status"], &url), true);
    record(
        "status json",
        with_url(&["status", "--format", "json"], &url),
        true,
    );
    let mut deploy = isolated(
        &fixture,
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
    deploy.env("DATABASE_URL", &url);
    record("deploy-db", run(deploy), true);
    record(
        "backup",
        with_url(&["backup", "--verify", "--out", &path("backups")], &url),
        true,
    );
    let wrong = cluster.url(role, "Sekret-8813-wrong");
    let refused = with_url(&["migrate"], &wrong);
    refused.assert_user_error(&[&format!("rejected the password for user \"{role}\"")]);
    record("migrate with a wrong password", refused, false);

    // On the command line: it works, with exactly one warning pointing elsewhere.
    let flagged = run(isolated(&fixture, &["status", "--database-url", &url]));
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
    record("status --database-url", flagged, true);

    // As a user types it: `cargo xtask` (the alias) echoes no command line.
    let mut alias = Command::new(env!("CARGO"));
    alias
        .current_dir(workspace_root())
        .args(["xtask", "status", "--dir"])
        .arg(fixture.dir())
        .args(["--database-url", &url])
        .env_remove("DATABASE_URL");
    let aliased = run(alias);
    assert!(aliased.stdout.contains("applied"), "{aliased}");
    record("cargo xtask status --database-url", aliased, true);

    // The backend's log, ready and with a wrong password.
    let (ready_backend, ready_url) = logged_backend(&url, &work.join("backend.log"));
    record(
        "health-check with the backend",
        with_url(
            &["health-check", "--url", &ready_url, "--wait", "60s"],
            &url,
        ),
        true,
    );
    let (wrong_backend, wrong_url) = logged_backend(&wrong, &work.join("backend-wrong.log"));
    let unready = with_url(&["health-check", "--url", &wrong_url, "--wait", "2s"], &url);
    assert_eq!(unready.code, 1, "{unready}");
    record("health-check with a refused backend", unready, false);
    drop((ready_backend, wrong_backend));

    let mut leaks = Vec::new();
    for (what, outcome) in &outputs {
        if outcome.all_output().contains(token) {
            leaks.push(format!("output of {what}:\n{outcome}"));
        }
    }
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
    for (file, text) in files {
        if text.contains(token) {
            leaks.push(format!("file {}", file.display()));
        }
    }
    assert!(
        leaks.is_empty(),
        "the password leaked:\n{}",
        leaks.join("\n")
    );
}

/// A database on the test server whose table belongs to a role only that server has.
struct OwnedSource {
    fixture: Fixture,
    owner: String,
}

impl Drop for OwnedSource {
    fn drop(&mut self) {
        let mut client = self.fixture.client();
        let _ = client.batch_execute(&format!(
            "DROP TABLE IF EXISTS things; DROP ROLE IF EXISTS {}",
            self.owner
        ));
    }
}

#[test]
fn restore_onto_a_server_that_lacks_the_backups_roles() {
    let fixture = Fixture::new();
    let owner = format!("{}_owner", fixture.db.name());
    let source = OwnedSource { fixture, owner };
    let fixture = &source.fixture;
    fixture
        .client()
        .batch_execute(&format!(
            "CREATE ROLE {owner} NOLOGIN;
             CREATE TABLE things (id int PRIMARY KEY, name text);
             INSERT INTO things SELECT g, 'thing ' || g FROM generate_series(1, 25) g;
             ALTER TABLE things OWNER TO {owner}",
            owner = source.owner
        ))
        .unwrap();
    let backups = fixture.work.path().join("backups");
    let mut command = isolated(fixture, &["backup", "--out"]);
    command
        .arg(&backups)
        .env("DATABASE_URL", fixture.db.url().secret_conninfo());
    run(command).assert_ok();
    let archive = std::fs::read_dir(&backups)
        .unwrap()
        .next()
        .expect("a backup")
        .unwrap()
        .path();
    let archive = archive.to_str().unwrap();

    let cluster = Cluster::start();
    let target = cluster.admin().with_database("restored");
    let restore = |args: &[&str], url: &DatabaseUrl| {
        let mut command = isolated(fixture, &[&["restore", archive], args].concat());
        command.env("DATABASE_URL", url.secret_conninfo());
        run(command)
    };
    let owner_and_rows = |url: &DatabaseUrl| -> (String, i64) {
        let row = url
            .connect("bomizzel-test")
            .unwrap()
            .query_one(
                "SELECT (SELECT tableowner::text FROM pg_tables WHERE tablename = 'things'),
                        (SELECT count(*) FROM things)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };

    // As it was: the owner does not exist there, and nothing is left behind.
    let refused = restore(&[], &target);
    refused.assert_user_error(&[
        &format!("role \"{}\" does not exist", source.owner),
        "restore with --no-owner",
        "database \"restored\", created for it, was dropped",
    ]);
    assert!(matches!(
        target.connect("bomizzel-test"),
        Err(migrations::ConnectError::NoSuchDatabase { .. })
    ));

    restore(&["--no-owner"], &target).assert_ok();
    assert_eq!(owner_and_rows(&target), ("postgres".to_owned(), 25));

    let mut admin = cluster.admin().connect("bomizzel-test").unwrap();
    admin
        .batch_execute("CREATE ROLE app_owner NOLOGIN")
        .unwrap();
    let other = cluster.admin().with_database("restored_as_role");
    restore(&["--no-owner", "--role", "app_owner"], &other).assert_ok();
    assert_eq!(owner_and_rows(&other), ("app_owner".to_owned(), 25));

    restore(
        &["--no-owner", "--role", "nobody_here"],
        &cluster.admin().with_database("x"),
    )
    .assert_user_error(&["role \"nobody_here\" (--role) does not exist on 127.0.0.1:"]);
}
