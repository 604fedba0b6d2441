//! PgBouncer (Debian's package) in front of the test server on port 6461, started and killed by
//! each test: a transaction-mode pooler is refused by the commands that take the migration lock,
//! with the way out; the direct URL then works; a session-mode pooler is not refused.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use migrations::DatabaseUrl;
use support::Fixture;
use tempfile::TempDir;

const PORT: u16 = 6461;

/// One PgBouncer at a time on the port.
static PORT_LOCK: Mutex<()> = Mutex::new(());

/// A PgBouncer process in front of the test server, killed when dropped.
struct PgBouncer {
    process: Child,
    _config: TempDir,
}

impl PgBouncer {
    fn start(pool_mode: &str) -> PgBouncer {
        let server = support::server();
        let config = tempfile::tempdir().unwrap();
        let ini = config.path().join("pgbouncer.ini");
        let users = config.path().join("userlist.txt");
        std::fs::write(&users, format!("\"{}\" \"\"\n", server.user())).unwrap();
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host={} port={}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
                 listen_port = {PORT}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}\n\
                 pool_mode = {pool_mode}\nignore_startup_parameters = extra_float_digits\n",
                server.host(),
                server.port(),
                users.display()
            ),
        )
        .unwrap();
        // PgBouncer refuses to run as root; as root, it switches to postgres, who must read this.
        let mut permissions = std::fs::metadata(config.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(config.path(), permissions).unwrap();
        let mut command = Command::new("pgbouncer");
        if std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
        {
            command.args(["-u", "postgres"]);
        }
        let process = command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer is installed (ci/setup-machine.sh)");
        let bouncer = PgBouncer {
            process,
            _config: config,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "pgbouncer did not listen on {PORT}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// The fixture's database, through this pooler.
    fn url(&self, fixture: &Fixture) -> DatabaseUrl {
        let direct = fixture.db.url();
        format!(
            "postgres://{}@127.0.0.1:{PORT}/{}",
            direct.user(),
            direct.database()
        )
        .parse()
        .unwrap()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn a_transaction_mode_pooler_is_refused_and_the_direct_url_migrates() {
    let _port = PORT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bouncer = PgBouncer::start("transaction");
    let fixture = Fixture::with_project_migrations();
    let pooled = bouncer.url(&fixture);

    let refused = fixture.xtask_with(&["migrate"], &pooled);
    refused.assert_user_error(&[
        "is served through a connection pooler in transaction or statement mode",
        "--direct-url or DIRECT_DATABASE_URL",
    ]);
    assert!(fixture.applied().is_empty(), "nothing ran: {refused}");
    // Reading is fine through it.
    fixture.xtask_with(&["status"], &pooled).assert_ok();

    let direct = fixture.db.url().secret_conninfo();
    let mut with_flag = fixture.command(&["migrate", "--target", "5", "--direct-url", &direct]);
    with_flag.env("DATABASE_URL", pooled.secret_conninfo());
    support::run(with_flag).assert_ok();
    assert_eq!(fixture.applied().last(), Some(&5));

    // The environment's way, as a deploy sets it beside the application's pooled DATABASE_URL;
    // the rest includes CREATE INDEX CONCURRENTLY.
    let mut with_env = fixture.command(&["migrate"]);
    with_env
        .env("DATABASE_URL", pooled.secret_conninfo())
        .env("DIRECT_DATABASE_URL", &direct);
    let run = support::run(with_env);
    run.assert_ok();
    assert_eq!(
        fixture.xtask_with(&["status", "--check"], &pooled).code,
        0,
        "{run}"
    );
}

#[test]
fn a_session_mode_pooler_is_not_refused() {
    let _port = PORT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bouncer = PgBouncer::start("session");
    let fixture = Fixture::with_project_migrations();
    let pooled = bouncer.url(&fixture);
    fixture.xtask_with(&["migrate"], &pooled).assert_ok();
    fixture.xtask(&["status", "--check"]).assert_ok();
}
