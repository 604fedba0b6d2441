//! How commands find their database without a URL (libpq's `PG*` variables, the password file,
//! several hosts), that no password ever reaches an output or a file, and restores onto a server
//! that lacks the backup's roles. A second cluster that checks passwords is started by the tests
//! that need one (ports 5451-5459) and removed afterwards, even when the test fails.

mod discovery;
mod restore;
mod secrets;
#[path = "../support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use migrations::DatabaseUrl;
use support::{server, Fixture};
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
