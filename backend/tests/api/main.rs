//! The service over real HTTP, on a scratch database migrated by the engine.

mod bounds;
mod fuzz;
mod readiness;
mod refusals;
mod tickets;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use backend::{issue_token, lazy_pool, router, serve, AppState, Timeouts};
use migrations::{DatabaseUrl, Direction, ScratchDatabase};
use serde_json::{json, Value};

fn server() -> DatabaseUrl {
    std::env::var("BOMIZZEL_TEST_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
        .parse()
        .expect("BOMIZZEL_TEST_SERVER is a valid URL")
}

/// A running service on its own scratch database.
struct Service {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    db: ScratchDatabase,
    pool: sqlx::PgPool,
}

/// The service's threads carry this name, so a panic among them is told from a test's own.
const SERVICE_THREAD: &str = "bomizzel-api-service";
static SERVICE_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Panics on the service's threads so far (tokio catches them: only the connection dies).
fn service_panics() -> usize {
    SERVICE_PANICS.load(Ordering::SeqCst)
}

/// A runtime serving the API over `database` on a free loopback port, and its pool.
fn spawn_service(
    database: &DatabaseUrl,
    timeouts: Timeouts,
) -> (tokio::runtime::Runtime, SocketAddr, sqlx::PgPool) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(SERVICE_THREAD) {
                SERVICE_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVICE_THREAD)
        .enable_all()
        .build()
        .unwrap();
    // The pool's maintenance task needs the runtime it will run on.
    let pool = runtime.block_on(async { lazy_pool(database, 8) });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(AppState::new(pool.clone()));
    runtime.spawn(serve(listener, app, timeouts, std::future::pending()));
    (runtime, address, pool)
}

impl Service {
    /// Migrated up to `target` (all when `None`), serving on a free loopback port.
    fn start(target: Option<i32>) -> Service {
        Service::start_with(target, Timeouts::default())
    }

    fn start_with(target: Option<i32>, timeouts: Timeouts) -> Service {
        let db = ScratchDatabase::create(&server(), "bomizzel_api").unwrap();
        let (service_runtime, address, pool) = spawn_service(db.url(), timeouts);
        let service = Service {
            runtime: service_runtime,
            address,
            db,
            pool,
        };
        service.migrate(target);
        service
    }

    fn migrate(&self, target: Option<i32>) {
        let set = migrations::embedded().unwrap();
        let mut client = self.db.url().connect("bomizzel-test").unwrap();
        migrations::history::ensure_tables(&mut client).unwrap();
        let history = migrations::history::read(&mut client).unwrap();
        let plan = migrations::plan::plan_migrate(&set, &history, target, false).unwrap();
        migrations::runner::Runner::new(&mut client, Default::default())
            .run(
                &plan,
                Direction::Up,
                &mut |_: &migrations::runner::Event<'_>| {},
            )
            .unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// An admin straight in the database (the API needs one to create anyone else).
    fn admin_token(&self) -> String {
        self.runtime.block_on(async {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (email, display_name, role) VALUES ('admin@example.com', 'Admin', 'admin') RETURNING id",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            issue_token(&self.pool, id, "test").await.unwrap().token
        })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = ureq::request(method, &self.url(path));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let outcome = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match outcome {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("{method} {path}: {error}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert_ne!(status, 500, "{method} {path} answered 500: {value}");
        (status, value)
    }

    fn raw(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
        let outcome = ureq::request(method, &self.url(path))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(body);
        let response = match outcome {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("{error}"),
        };
        let status = response.status();
        (
            status,
            serde_json::from_str(&response.into_string().unwrap()).unwrap(),
        )
    }
}

/// An admin, a queue, an agent of it, two customers: (admin, agent, alice, bob, queue id, agent id).
fn people(service: &Service) -> (String, String, String, String, i64, i64) {
    let admin = service.admin_token();
    let (status, queue) = service.call(
        "POST",
        "/queues",
        Some(&admin),
        Some(json!({"name": "billing"})),
    );
    assert_eq!(status, 201, "{queue}");
    let user = |email: &str, role: &str| {
        let (status, user) = service.call(
            "POST",
            "/users",
            Some(&admin),
            Some(json!({"email": email, "display_name": email, "role": role})),
        );
        assert_eq!(status, 201, "{user}");
        (
            user["token"].as_str().unwrap().to_owned(),
            user["id"].as_i64().unwrap(),
        )
    };
    let (agent, agent_id) = user("agent@example.com", "agent");
    let (alice, _) = user("alice@example.com", "customer");
    let (bob, _) = user("bob@example.com", "customer");
    let queue_id = queue["id"].as_i64().unwrap();
    let (status, _) = service.call(
        "POST",
        &format!("/queues/{queue_id}/agents"),
        Some(&admin),
        Some(json!({"user_id": agent_id})),
    );
    assert_eq!(status, 204);
    (admin, agent, alice, bob, queue_id, agent_id)
}

/// Sends `request` as is on a new connection and reads the answer to its end: (status, body).
fn raw_exchange(address: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    // A guard against a hung test, not a measurement: every exchange here ends well before it.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())),
    )
}

/// The documented error shape with this status and code.
#[track_caller]
fn assert_error((status, body): (u16, Value), expected: u16, code: &str) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"))
        .to_owned()
}
