//! TLS against a PostgreSQL cluster of this test's own that accepts only TLS (`hostssl` lines,
//! `hostnossl ... reject`), with a CA, a server certificate for localhost/127.0.0.1 and client
//! certificates made by `openssl` at setup. Every command and the backend work over it with
//! `require` and `verify-full`; each way of being refused says its own cause.
//!
//! One test runs the scenarios in sequence so the cluster is made once; its guard drops it
//! whether the scenarios pass or panic.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use migrations::{DatabaseUrl, ScratchDatabase};
use support::backend::Backend;
use support::{Fixture, Run};
use tempfile::TempDir;
use xshell::{cmd, Shell};

const CLIENT_CERT_ROLE: &str = "bomizzel_tls_cert_user";

/// The TLS-only cluster and the files it was set up with, dropped with this value.
struct TlsCluster {
    name: String,
    port: u16,
    files: TempDir,
}

impl TlsCluster {
    fn start() -> TlsCluster {
        let port = (5441..=5449)
            .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
            .expect("a free port in 5441-5449 for the TLS cluster");
        let cluster = TlsCluster {
            name: format!("bomizzel_tls_{}", std::process::id()),
            port,
            files: tempfile::tempdir().unwrap(),
        };
        cluster.make_certificates();
        let sh = Shell::new().unwrap();
        let (name, port) = (&cluster.name, port.to_string());
        let data = format!("/var/lib/postgresql/15/{name}");
        let options = [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={data}/tls-server.crt"),
            format!("ssl_key_file={data}/tls-server.key"),
            format!("ssl_ca_file={data}/tls-ca.crt"),
        ]
        .map(|option| ["-o".to_owned(), option]);
        let options = options.iter().flatten();
        cmd!(
            sh,
            "pg_createcluster 15 {name} -p {port} {options...} -- --auth=trust"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .unwrap();
        // The server reads its key as the postgres user, which must own it.
        for (file, installed) in [
            ("server.crt", "tls-server.crt"),
            ("server.key", "tls-server.key"),
            ("ca.crt", "tls-ca.crt"),
        ] {
            let from = cluster.file(file);
            let to = format!("{data}/{installed}");
            cmd!(sh, "install -o postgres -g postgres -m 600 {from} {to}")
                .quiet()
                .run()
                .unwrap();
        }
        let hba = format!(
            "local all all trust\n\
             hostssl all {CLIENT_CERT_ROLE} 127.0.0.1/32 cert\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n\
             hostnossl all all 0.0.0.0/0 reject\n\
             hostnossl all all ::/0 reject\n"
        );
        std::fs::write(format!("/etc/postgresql/15/{name}/pg_hba.conf"), hba).unwrap();
        cmd!(
            sh,
            "pg_ctlcluster --skip-systemctl-redirect 15 {name} start"
        )
        .quiet()
        .run()
        .unwrap();
        cluster
    }

    fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    /// A CA, another CA nobody configured, a server certificate for localhost and 127.0.0.1,
    /// and client certificates for the role that must present one: one from each CA.
    fn make_certificates(&self) {
        let sh = Shell::new().unwrap();
        sh.change_dir(self.files.path());
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key_file, cert_file, subject) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN=bomizzel test {ca}"),
            );
            cmd!(
                sh,
                "openssl req -x509 {key...} -keyout {key_file} -out {cert_file} -days 2 -subj {subject}"
            )
            .quiet()
            .ignore_stderr()
            .run()
            .unwrap();
        }
        let leaf = [
            (
                "server",
                "ca",
                "/CN=localhost",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ),
            (
                "client",
                "ca",
                &format!("/CN={CLIENT_CERT_ROLE}") as &str,
                "keyUsage=digitalSignature",
            ),
            (
                "stranger",
                "other-ca",
                &format!("/CN={CLIENT_CERT_ROLE}"),
                "keyUsage=digitalSignature",
            ),
        ];
        for (name, ca, subject, extension) in leaf {
            let (key_file, cert_file) = (format!("{name}.key"), format!("{name}.crt"));
            let (ca_cert, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            cmd!(
                sh,
                "openssl req -x509 {key...} -keyout {key_file} -out {cert_file} -days 2 -subj {subject}
                 -CA {ca_cert} -CAkey {ca_key} -addext {extension} -addext basicConstraints=critical,CA:FALSE"
            )
            .quiet()
            .ignore_stderr()
            .run()
            .unwrap();
        }
    }

    /// A key/value connection string to this cluster's `postgres` database.
    fn url(&self, host: &str, tls: &str) -> DatabaseUrl {
        format!(
            "host={host} port={} user=postgres dbname=postgres {tls}",
            self.port
        )
        .parse()
        .unwrap()
    }

    /// As the server's own CA vouches for it: verify-full by name.
    fn verified(&self) -> DatabaseUrl {
        let ca = self.file("ca.crt");
        self.url(
            "localhost",
            &format!("sslmode=verify-full sslrootcert={}", ca.display()),
        )
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let sh = Shell::new().unwrap();
        let name = &self.name;
        let _ = cmd!(sh, "pg_dropcluster --stop 15 {name}").quiet().run();
    }
}

/// Whether `url`'s own session is encrypted, as the server sees it.
fn encrypted(url: &DatabaseUrl) -> bool {
    url.connect("bomizzel-test")
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

/// The newest file under `dir`.
fn newest_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

/// Every command that talks to the database, the PostgreSQL tools they run and the backend,
/// over `server`'s TLS settings.
fn every_command_works_over(server: &DatabaseUrl) {
    assert!(encrypted(server), "{server} connects over TLS");
    let fixture = Fixture::with_project_migrations_on(server);
    let url = fixture.db.url();
    let xtask = |args: &[&str]| -> Run { fixture.xtask_with(args, url) };
    let pending = xtask(&["status"]);
    pending.assert_ok();
    assert!(pending.stdout.contains("pending"), "{pending}");
    xtask(&["migrate"]).assert_ok();
    xtask(&["schema", "dump"]).assert_ok();
    xtask(&["verify"]).assert_ok();
    let rollback = xtask(&["rollback"]);
    rollback.assert_ok();

    let out = fixture.work.path().join("backups");
    let log = fixture.log_path();
    let (out_arg, log_arg) = (out.to_str().unwrap(), log.to_str().unwrap());
    let backup = xtask(&["backup", "--verify", "--out", out_arg, "--log", log_arg]);
    backup.assert_ok();
    assert!(backup.stdout.contains("verified"), "{backup}");
    let target = ScratchDatabase::create(server, "bomizzel_test_restore").unwrap();
    let file = newest_file(&out);
    xtask(&[
        "restore",
        file.to_str().unwrap(),
        "--target-db",
        target.name(),
        "--dir",
        fixture.dir().to_str().unwrap(),
        "--log",
        log_arg,
    ])
    .assert_ok();

    let service = Backend::start(&url.secret_conninfo(), |_| {});
    let mut deploy = fixture.command(&["deploy-db"]);
    deploy
        .args(["--dir", fixture.dir().to_str().unwrap(), "--log", log_arg])
        .arg("--backup-dir")
        .arg(fixture.work.path().join("deploy-backups"))
        .arg("--report")
        .arg(fixture.work.path().join("reports"))
        .args([
            "--yes",
            "--health-url",
            &format!("{}/health/ready", service.base),
        ])
        .env("DATABASE_URL", url.secret_conninfo());
    support::run(deploy).assert_ok();
    let health = xtask(&["health-check", "--url", &service.base, "--wait", "30s"]);
    health.assert_ok();
    assert!(health.stdout.contains("ok    backend ready:"), "{health}");
    let backend_sessions_encrypted: Vec<bool> = fixture
        .client()
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = 'bomizzel-backend' AND a.datname = current_database()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        !backend_sessions_encrypted.is_empty() && backend_sessions_encrypted.iter().all(|ssl| *ssl),
        "the backend's sessions: {backend_sessions_encrypted:?}"
    );
}

/// `status` with `url` as written (`hostaddr` and all).
fn status(fixture: &Fixture, url: &str) -> Run {
    let mut command = fixture.command(&["status"]);
    command.env("DATABASE_URL", url);
    support::run(command)
}

/// `status` with `url`, which must fail with one `error:` line holding each of `needles`.
fn refused(fixture: &Fixture, url: &str, needles: &[&str]) -> Run {
    let run = status(fixture, url);
    run.assert_user_error(needles);
    run
}

fn each_refusal_says_why(cluster: &TlsCluster) {
    let fixture = Fixture::on(&cluster.verified());
    let database = fixture.db.name();
    let port = cluster.port;
    let base = format!("port={port} user=postgres dbname={database}");
    let (ca, other_ca) = (cluster.file("ca.crt"), cluster.file("other-ca.crt"));
    let (ca, other_ca) = (ca.display(), other_ca.display());

    // The modes that take TLS when the server insists: `allow` after the refusal, `prefer` first.
    for mode in ["", "sslmode=allow", "sslmode=prefer"] {
        status(&fixture, &format!("host=127.0.0.1 {base} {mode}")).assert_ok();
    }

    refused(
        &fixture,
        &format!("host=localhost {base} sslmode=verify-full sslrootcert={other_ca}"),
        &[
            &format!("PostgreSQL at localhost:{port} presented a certificate that is not signed by a CA in {other_ca}"),
        ],
    );
    // A name the certificate does not hold, reaching the same server by address.
    refused(
        &fixture,
        &format!("host=db.invalid hostaddr=127.0.0.1 {base} sslmode=verify-full sslrootcert={ca}"),
        &[r#"presented a certificate for "localhost", "127.0.0.1", not for "db.invalid""#],
    );
    status(
        &fixture,
        &format!("host=db.invalid hostaddr=127.0.0.1 {base} sslmode=verify-ca sslrootcert={ca}"),
    )
    .assert_ok();
    refused(
        &fixture,
        &format!("host=127.0.0.1 {base} sslmode=disable"),
        &["accepts only TLS connections", "sslmode=disable"],
    );
    refused(
        &fixture,
        &format!("host=localhost {base} sslmode=verify-full sslrootcert=/nonexistent/ca.crt"),
        &["root certificate file /nonexistent/ca.crt does not exist"],
    );

    client_certificate_refusals_say_why(cluster, &fixture);
}

/// A role that must show a client certificate: none, a stranger's, and a certificate where the
/// key should be are each refused, saying why and never showing a certificate's contents.
fn client_certificate_refusals_say_why(cluster: &TlsCluster, fixture: &Fixture) {
    let (port, database) = (cluster.port, fixture.db.name());
    let ca = cluster.file("ca.crt");
    let ca = ca.display();
    fixture
        .client()
        .batch_execute(&format!("CREATE ROLE {CLIENT_CERT_ROLE} LOGIN SUPERUSER"))
        .unwrap();
    let as_role = format!(
        "host=localhost port={port} user={CLIENT_CERT_ROLE} dbname={database} sslmode=verify-full sslrootcert={ca}"
    );
    refused(
        fixture,
        &as_role,
        &[&format!(
            "requires a client certificate for user \"{CLIENT_CERT_ROLE}\" and none was sent"
        )],
    );
    let identity = |name: &str| {
        format!(
            "{as_role} sslcert={} sslkey={}",
            cluster.file(&format!("{name}.crt")).display(),
            cluster.file(&format!("{name}.key")).display()
        )
    };
    let stranger = refused(
        fixture,
        &identity("stranger"),
        &["refused the client certificate", "stranger.crt"],
    );
    status(fixture, &identity("client")).assert_ok();
    // A certificate where the key should be: named, its contents never shown.
    let wrong_key = format!(
        "{as_role} sslcert={} sslkey={}",
        cluster.file("client.crt").display(),
        cluster.file("client.crt").display()
    );
    let shown = refused(
        fixture,
        &wrong_key,
        &["cannot be read as a PEM private key"],
    );
    for run in [&stranger, &shown] {
        assert!(!run.all_output().contains("-----BEGIN"), "{run}");
    }
    fixture
        .client()
        .batch_execute(&format!("DROP ROLE {CLIENT_CERT_ROLE}"))
        .unwrap();
}

/// Once the server stops offering TLS, `require` says so.
fn a_server_without_tls_is_named(cluster: &TlsCluster) {
    let fixture = Fixture::on(&cluster.verified());
    let mut client = fixture.client();
    client.batch_execute("ALTER SYSTEM SET ssl = off").unwrap();
    client.batch_execute("SELECT pg_reload_conf()").unwrap();
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require",
        cluster.port
    );
    // The reload is asynchronous: wait for it, bounded only against a hang.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run = status(&fixture, &url);
        if (run.code != 0 && !run.stderr.contains("cannot reach")) || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    run.assert_user_error(&[&format!(
        "PostgreSQL at 127.0.0.1:{} does not offer TLS, which sslmode=require requires",
        cluster.port
    )]);
}

#[test]
fn a_tls_only_server_works_with_require_and_verify_full_and_refusals_say_why() {
    let cluster = TlsCluster::start();
    each_refusal_says_why(&cluster);
    every_command_works_over(&cluster.verified());
    every_command_works_over(&cluster.url("127.0.0.1", "sslmode=require"));
    a_server_without_tls_is_named(&cluster);
}
