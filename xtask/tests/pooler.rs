//! PgBouncer (Debian's package) in front of the test server on port 6461, started and killed by
//! each test: a transaction-mode pooler is refused by the commands that take the migration lock,
//! with the way out; the direct URL then works; a session-mode pooler is not refused, and the
//! backend serves through it. Through transaction mode the backend needs PgBouncer 1.21's
//! `max_prepared_statements`; Debian 12 ships 1.18, and the backend says it is not ready, and why.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use migrations::DatabaseUrl;
use support::backend::Backend;
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

    // The backend through the same pooler, with several clients at once.
    let admin = Command::new(support::backend::binary())
        .args(["create-admin", "admin@pooler.test"])
        .env("DATABASE_URL", pooled.secret_conninfo())
        .output()
        .unwrap();
    assert!(admin.status.success(), "create-admin: {admin:?}");
    let token = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
    let backend = Backend::start(&pooled.secret_conninfo(), |_| {});
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let ready = agent.get(&format!("{}/health/ready", backend.base)).call();
    assert!(ready.is_ok(), "readiness through the pooler: {ready:?}");
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|client| {
                let (agent, base, token) = (&agent, &backend.base, &token);
                scope.spawn(move || {
                    (0..10)
                        .filter_map(|request| {
                            agent
                                .post(&format!("{base}/queues"))
                                .set("Authorization", &format!("Bearer {token}"))
                                .send_json(
                                    serde_json::json!({"name": format!("q{client}-{request}")}),
                                )
                                .err()
                                .map(|error| error.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "requests failed: {failures:#?}");
    let queues: i64 = fixture
        .client()
        .query_one("SELECT count(*) FROM queues", &[])
        .unwrap()
        .get(0);
    assert_eq!(queues, 40);
}

#[test]
fn the_backend_is_not_ready_through_a_pooler_that_mixes_prepared_statements_up() {
    let _port = PORT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bouncer = PgBouncer::start("transaction");
    let fixture = Fixture::with_project_migrations();
    fixture.xtask(&["migrate"]).assert_ok();
    let backend = Backend::start(&bouncer.url(&fixture).secret_conninfo(), |_| {});
    let answer = ureq::get(&format!("{}/health/ready", backend.base)).call();
    if keeps_prepared_statements_apart() {
        assert!(answer.is_ok(), "{answer:?}");
        return;
    }
    let Err(ureq::Error::Status(503, response)) = answer else {
        panic!("expected 503 through PgBouncer 1.18 in transaction mode: {answer:?}");
    };
    let body: serde_json::Value = response.into_json().unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("pooler in transaction mode") && reason.contains("max_prepared_statements"),
        "{body}"
    );
}

/// PgBouncer 1.22 and later keep protocol-level prepared statements apart by default
/// (`max_prepared_statements = 200`); 1.21 has the setting off; earlier ones lack it.
fn keeps_prepared_statements_apart() -> bool {
    let output = Command::new("pgbouncer").arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let version: Vec<u32> = text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("0")
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect();
    version >= vec![1, 22]
}
