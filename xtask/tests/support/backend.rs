//! The backend binary as a user runs it: built (a no-op when fresh) and served on a free loopback
//! port, killed when the handle is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::workspace_root;

/// The debug backend binary, built the way a user builds it (`cargo test --workspace` has
/// built it already).
pub fn binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--package", "backend"])
        .current_dir(workspace_root())
        .status()
        .unwrap();
    assert!(status.success(), "building the backend failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("debug/backend")
}

/// A backend process serving one database.
pub struct Backend {
    process: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Backend {
    /// Serves `database_url` (a URL or key/value string, handed over as `DATABASE_URL`), with
    /// `configure` adding environment or redirecting output (quiet, `RUST_LOG=warn`, otherwise),
    /// and waits until it listens.
    pub fn start(database_url: &str, configure: impl FnOnce(&mut Command)) -> Backend {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(binary());
        command
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        configure(&mut command);
        let backend = Backend {
            process: command.spawn().expect("start the backend"),
            base: format!("http://127.0.0.1:{port}"),
        };
        // Waiting for the socket, not timing anything: the bound is only against a hang.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the backend never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        backend
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
