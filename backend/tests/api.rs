//! The service over real HTTP, on a scratch database migrated by the engine.

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

#[test]
fn a_ticket_goes_from_open_to_closed() {
    let service = Service::start(None);
    let (_admin, agent, alice, _bob, queue_id, agent_id) = people(&service);

    let (status, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "Invoice wrong", "description": "twice charged", "priority": 3, "queue_id": queue_id})),
    );
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["status"], "open");
    let id = ticket["id"].as_i64().unwrap();

    let (status, seen) = service.call("GET", &format!("/tickets/{id}"), Some(&agent), None);
    assert_eq!((status, &seen["title"]), (200, &json!("Invoice wrong")));
    let (status, assigned) = service.call(
        "PUT",
        &format!("/tickets/{id}/assignee"),
        Some(&agent),
        Some(json!({"assignee_id": agent_id})),
    );
    assert_eq!(
        (status, assigned["assignee_id"].as_i64()),
        (200, Some(agent_id))
    );
    let (status, page) = service.call(
        "GET",
        &format!("/tickets?assignee_id={agent_id}&status=open"),
        Some(&agent),
        None,
    );
    assert_eq!(
        (status, page["tickets"].as_array().unwrap().len()),
        (200, 1)
    );

    for (who, next) in [
        (&agent, "in_progress"),
        (&agent, "resolved"),
        (&alice, "closed"),
    ] {
        let (status, moved) = service.call(
            "PUT",
            &format!("/tickets/{id}/status"),
            Some(who),
            Some(json!({"status": next})),
        );
        assert_eq!((status, &moved["status"]), (200, &json!(next)), "{moved}");
    }

    let (status, _) = service.call(
        "POST",
        &format!("/tickets/{id}/comments"),
        Some(&alice),
        Some(json!({"body": "thanks"})),
    );
    assert_eq!(status, 201);
    let (status, _) = service.call(
        "POST",
        &format!("/tickets/{id}/comments"),
        Some(&agent),
        Some(json!({"body": "refund issued", "internal": true})),
    );
    assert_eq!(status, 201);
    let (_, for_alice) = service.call(
        "GET",
        &format!("/tickets/{id}/comments"),
        Some(&alice),
        None,
    );
    let (_, for_agent) = service.call(
        "GET",
        &format!("/tickets/{id}/comments"),
        Some(&agent),
        None,
    );
    assert_eq!(
        for_alice.as_array().unwrap().len(),
        1,
        "internal notes are hidden from customers"
    );
    assert_eq!(for_agent.as_array().unwrap().len(), 2);

    let (status, me) = service.call("GET", "/users/me", Some(&alice), None);
    assert_eq!((status, &me["role"]), (200, &json!("customer")));
}

#[test]
fn every_refusal_has_its_status_and_a_json_body() {
    let service = Service::start(None);
    let (admin, agent, alice, bob, queue_id, agent_id) = people(&service);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "Mine", "queue_id": queue_id})),
    );
    let id = ticket["id"].as_i64().unwrap();

    let cases: Vec<(u16, (u16, Value))> = vec![
        (401, service.call("GET", "/tickets", None, None)),
        (
            401,
            service.call("GET", "/tickets", Some("bmz_not-a-token"), None),
        ),
        (
            403,
            service.call("GET", &format!("/tickets/{id}"), Some(&bob), None),
        ),
        (
            403,
            service.call("GET", &format!("/tickets/{id}/comments"), Some(&bob), None),
        ),
        (
            404,
            service.call("GET", "/tickets/999999", Some(&alice), None),
        ),
        (
            409,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(&agent),
                Some(json!({"status": "resolved"})),
            ),
        ),
        (
            403,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(&alice),
                Some(json!({"status": "in_progress"})),
            ),
        ),
        (
            422,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(&agent),
                Some(json!({"status": "lost"})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(&alice),
                Some(json!({"title": "  ", "queue_id": queue_id})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(&alice),
                Some(json!({"title": "x", "priority": 9, "queue_id": queue_id})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(&alice),
                Some(json!({"title": "x", "queue_id": 424242})),
            ),
        ),
        (400, service.raw("POST", "/tickets", &alice, "{not json")),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(&alice),
                Some(json!({"queue_id": queue_id})),
            ),
        ),
        (
            403,
            service.call(
                "PUT",
                &format!("/tickets/{id}/assignee"),
                Some(&alice),
                Some(json!({"assignee_id": agent_id})),
            ),
        ),
        (
            422,
            service.call(
                "PUT",
                &format!("/tickets/{id}/assignee"),
                Some(&agent),
                Some(json!({"assignee_id": 1})),
            ),
        ),
        (
            403,
            service.call(
                "POST",
                &format!("/tickets/{id}/comments"),
                Some(&alice),
                Some(json!({"body": "x", "internal": true})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                &format!("/tickets/{id}/comments"),
                Some(&alice),
                Some(json!({"body": " "})),
            ),
        ),
        (
            400,
            service.call("GET", "/tickets?limit=0", Some(&alice), None),
        ),
        (
            400,
            service.call("GET", "/tickets?after=garbage", Some(&alice), None),
        ),
        (
            400,
            service.call("GET", "/tickets?status=lost", Some(&alice), None),
        ),
        (400, service.call("GET", "/tickets/abc", Some(&alice), None)),
        (
            403,
            service.call(
                "POST",
                "/users",
                Some(&agent),
                Some(json!({"email": "x@y.z", "display_name": "x", "role": "admin"})),
            ),
        ),
        (
            409,
            service.call(
                "POST",
                "/users",
                Some(&admin),
                Some(
                    json!({"email": "alice@example.com", "display_name": "a", "role": "customer"}),
                ),
            ),
        ),
        (404, service.call("GET", "/nowhere", Some(&alice), None)),
    ];
    for (index, (expected, (status, body))) in cases.into_iter().enumerate() {
        assert_eq!(status, expected, "case {index}: {body}");
        if status != 400 || body.get("error").is_some() {
            assert!(
                body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                "case {index}: {body}"
            );
        }
    }
}

#[test]
fn lists_page_by_keyset_in_priority_then_age_order() {
    let service = Service::start(None);
    let (_admin, agent, alice, bob, queue_id, _) = people(&service);
    let priorities = [1, 4, 2, 4, 0, 2, 3];
    for (index, priority) in priorities.iter().enumerate() {
        let (status, _) = service.call(
            "POST",
            "/tickets",
            Some(&alice),
            Some(json!({"title": format!("t{index}"), "priority": priority, "queue_id": queue_id})),
        );
        assert_eq!(status, 201);
    }
    service.call(
        "POST",
        "/tickets",
        Some(&bob),
        Some(json!({"title": "bob's", "queue_id": queue_id})),
    );

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/tickets?limit=3&after={cursor}"),
            None => "/tickets?limit=3".to_owned(),
        };
        let (status, page) = service.call("GET", &path, Some(&alice), None);
        assert_eq!(status, 200, "{page}");
        for ticket in page["tickets"].as_array().unwrap() {
            seen.push((
                ticket["priority"].as_i64().unwrap(),
                ticket["title"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let titles: Vec<&str> = seen.iter().map(|(_, title)| title.as_str()).collect();
    assert_eq!(
        titles,
        vec!["t1", "t3", "t6", "t2", "t5", "t0", "t4"],
        "alice sees hers only, urgent first, oldest first"
    );
    let (_, everything) = service.call("GET", "/tickets?limit=200", Some(&agent), None);
    assert_eq!(
        everything["tickets"].as_array().unwrap().len(),
        8,
        "the agent sees the whole queue"
    );
    assert!(everything["next"].is_null());
}

#[test]
fn readiness_follows_the_schema_version() {
    let service = Service::start(Some(6));
    let needed = migrations::embedded_head().unwrap();
    let (status, alive) = service.call("GET", "/health", None, None);
    assert_eq!((status, &alive["status"]), (200, &json!("alive")));
    let (status, ready) = service.call("GET", "/health/ready", None, None);
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("schema at version 6, this build needs {needed}")),
        "{ready}"
    );
    service.migrate(None);
    let (status, ready) = service.call("GET", "/health/ready", None, None);
    assert_eq!(
        (status, &ready["schema_version"]),
        (200, &json!(needed)),
        "{ready}"
    );
}

#[test]
fn a_database_never_migrated_is_not_ready() {
    let db = ScratchDatabase::create(&server(), "bomizzel_api").unwrap();
    let (_runtime, address, _pool) = spawn_service(db.url(), Timeouts::default());
    let response = ureq::get(&format!("http://{address}/health/ready")).call();
    let Err(ureq::Error::Status(503, response)) = response else {
        panic!("expected 503: {response:?}");
    };
    let body: Value = response.into_json().unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("schema not migrated"),
        "{body}"
    );
    let refusal = ureq::get(&format!("http://{address}/tickets"))
        .set("Authorization", "Bearer bmz_anything")
        .call();
    let Err(ureq::Error::Status(status, refusal)) = refusal else {
        panic!("expected a refusal: {refusal:?}");
    };
    let message = assert_error((status, refusal.into_json().unwrap()), 503, "unavailable");
    assert!(message.contains("schema is not ready"), "{message}");
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

#[test]
fn a_cursor_out_of_range_is_refused_and_the_service_goes_on() {
    let service = Service::start(None);
    let (_admin, _agent, alice, _bob, _queue_id, _) = people(&service);
    for cursor in [
        "4.170141183460469231731687303715884106.1",
        "4.-170141183460469231731687303715884106.1",
        "4.99999999999999999999999999999999999999999.1",
    ] {
        let refusal = service.call(
            "GET",
            &format!("/tickets?after={cursor}"),
            Some(&alice),
            None,
        );
        let message = assert_error(refusal, 400, "bad_request");
        assert!(message.contains("not a cursor"), "{message}");
    }
    let (status, page) = service.call("GET", "/tickets", Some(&alice), None);
    assert_eq!(status, 200, "the service still serves: {page}");
    assert_eq!(service_panics(), 0, "no panic on the service's threads");
}

#[test]
fn a_nul_character_in_any_text_field_is_unprocessable() {
    let service = Service::start(None);
    let (admin, _agent, alice, _bob, queue_id, _) = people(&service);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "fine", "queue_id": queue_id})),
    );
    let id = ticket["id"].as_i64().unwrap();
    let nul = "a\u{0}b";
    let cases = [
        (
            "/tickets",
            &alice,
            json!({"title": nul, "queue_id": queue_id}),
        ),
        (
            "/tickets",
            &alice,
            json!({"title": "t", "description": nul, "queue_id": queue_id}),
        ),
        (
            &format!("/tickets/{id}/comments"),
            &alice,
            json!({"body": nul}),
        ),
        (
            "/users",
            &admin,
            json!({"email": nul, "display_name": "n", "role": "customer"}),
        ),
        (
            "/users",
            &admin,
            json!({"email": "n@example.com", "display_name": nul, "role": "customer"}),
        ),
        ("/queues", &admin, json!({"name": nul})),
        ("/queues", &admin, json!({"name": "q", "description": nul})),
    ];
    for (path, token, body) in cases {
        let message = assert_error(
            service.call("POST", path, Some(token), Some(body)),
            422,
            "invalid",
        );
        assert!(message.contains("NUL"), "{path}: {message}");
    }
}

#[test]
fn a_half_sent_request_is_closed_or_answered_when_its_time_is_up() {
    let service = Service::start_with(
        None,
        Timeouts {
            header_read: Duration::from_millis(200),
            request: Duration::from_millis(500),
        },
    );
    let admin = service.admin_token();

    // Half a head (slowloris): the server closes the connection without an answer.
    let mut stream = TcpStream::connect(service.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(error) => assert_eq!(
            error.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the server should have closed the connection: {error}"
        ),
    }
    assert!(
        !String::from_utf8_lossy(&answer).contains("200"),
        "{answer:?}"
    );

    // A whole head but half the body: 408 with the JSON error.
    let request = format!(
        "POST /queues HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {admin}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{\"name\""
    );
    let message = assert_error(
        raw_exchange(service.address, request.as_bytes()),
        408,
        "timeout",
    );
    assert!(message.contains("500 ms"), "{message}");
    let (status, _) = service.call("GET", "/health", None, None);
    assert_eq!(status, 200);
}

#[test]
fn fields_bodies_and_lists_have_bounds() {
    let service = Service::start(None);
    let (admin, _agent, alice, _bob, queue_id, _) = people(&service);
    let long = |chars: usize| "é".repeat(chars);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "long", "description": long(20_000), "queue_id": queue_id})),
    );
    let id = ticket["id"].as_i64().unwrap();
    let over = [
        (
            "/tickets",
            &alice,
            json!({"title": long(201), "queue_id": queue_id}),
        ),
        (
            "/tickets",
            &alice,
            json!({"title": "t", "description": long(20_001), "queue_id": queue_id}),
        ),
        (
            &format!("/tickets/{id}/comments"),
            &alice,
            json!({"body": long(20_001)}),
        ),
        (
            "/users",
            &admin,
            json!({"email": long(255), "display_name": "n", "role": "customer"}),
        ),
        (
            "/users",
            &admin,
            json!({"email": "n@example.com", "display_name": long(201), "role": "customer"}),
        ),
    ];
    for (path, token, body) in over {
        assert_error(
            service.call("POST", path, Some(token), Some(body)),
            422,
            "invalid",
        );
    }
    let huge = format!(
        r#"{{"title": "t", "queue_id": {queue_id}, "description": "{}"}}"#,
        "x".repeat(backend::limits::BODY_BYTES)
    );
    let message = assert_error(
        service.raw("POST", "/tickets", &alice, &huge),
        413,
        "too_large",
    );
    assert!(message.contains("262144 bytes"), "{message}");

    let (status, page) = service.call("GET", "/tickets", Some(&alice), None);
    assert_eq!(status, 200);
    let listed = &page["tickets"][0];
    assert_eq!(listed["description"].as_str().unwrap().chars().count(), 200);
    assert_eq!(listed["description_truncated"], json!(true));
    let (_, whole) = service.call("GET", &format!("/tickets/{id}"), Some(&alice), None);
    assert_eq!(
        whole["description"].as_str().unwrap().chars().count(),
        20_000
    );

    for index in 0..5 {
        let (status, _) = service.call(
            "POST",
            &format!("/tickets/{id}/comments"),
            Some(&alice),
            Some(json!({"body": format!("c{index}")})),
        );
        assert_eq!(status, 201);
    }
    let mut bodies = Vec::new();
    let mut next = Some(format!("/tickets/{id}/comments?limit=2"));
    while let Some(path) = next.take() {
        let response = ureq::get(&service.url(&path))
            .set("Authorization", &format!("Bearer {alice}"))
            .call()
            .unwrap();
        next = response.header("link").map(|link| {
            link.strip_prefix('<')
                .and_then(|link| link.strip_suffix(">; rel=\"next\""))
                .unwrap_or_else(|| panic!("{link}"))
                .to_owned()
        });
        let page: Value = response.into_json().unwrap();
        assert!(page.as_array().unwrap().len() <= 2);
        bodies.extend(page.as_array().unwrap().iter().map(|c| c["body"].clone()));
    }
    assert_eq!(bodies, ["c0", "c1", "c2", "c3", "c4"].map(|b| json!(b)));
    assert_error(
        service.call(
            "GET",
            &format!("/tickets/{id}/comments?after=1.x"),
            Some(&alice),
            None,
        ),
        400,
        "bad_request",
    );
}

#[test]
fn the_framework_s_own_refusals_have_the_json_body() {
    let service = Service::start(None);
    let admin = service.admin_token();

    let (status, me) = raw_exchange(
        service.address,
        format!("GET /users/me HTTP/1.1\r\nhost: x\r\nauthorization: bearer {admin}\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(
        (status, &me["role"]),
        (200, &json!("admin")),
        "lower-case scheme: {me}"
    );

    let message = assert_error(
        service.call("DELETE", "/tickets", Some(&admin), None),
        405,
        "method_not_allowed",
    );
    assert!(message.contains("DELETE"), "{message}");

    let many_headers: String = (0..200).map(|index| format!("x-h{index}: v\r\n")).collect();
    assert_error(
        raw_exchange(
            service.address,
            format!("GET /health HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").as_bytes(),
        ),
        431,
        "too_large",
    );
    assert_error(
        raw_exchange(
            service.address,
            b"GET /health HTTP/1.1\r\nbad header\r\n\r\n",
        ),
        400,
        "bad_request",
    );
    assert_error(
        raw_exchange(service.address, b"GET /he alth HTTP/1.1\r\n\r\n"),
        400,
        "bad_request",
    );
    let (status, _) = service.call("GET", "/health", None, None);
    assert_eq!(status, 200);
}

#[test]
fn readiness_does_not_show_the_database_s_words() {
    let mut url = server().to_string();
    url.truncate(url.rfind('/').unwrap());
    let missing: DatabaseUrl = format!("{url}/bomizzel_no_such_database").parse().unwrap();
    let (_runtime, address, _pool) = spawn_service(&missing, Timeouts::default());
    let response = ureq::get(&format!("http://{address}/health/ready")).call();
    let Err(ureq::Error::Status(503, response)) = response else {
        panic!("expected 503: {response:?}");
    };
    let body: Value = response.into_json().unwrap();
    assert_eq!(body["reason"], json!("database unreachable"), "{body}");
}

/// A seeded xorshift generator: the same seed sends the same requests again.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, most: usize) -> Vec<u8> {
        let length = self.below(most + 1);
        (0..length).map(|_| self.next() as u8).collect()
    }

    /// Text that stresses a parser: NULs, controls, quotes, multi-byte characters, cursor shapes.
    fn text(&mut self) -> String {
        let pieces = [
            "\u{0}",
            "a",
            "Z",
            "é",
            "😀",
            "\n",
            "\"",
            "\\",
            ".",
            "-",
            "9",
            "170141183460469231731687303715884106",
            "%",
            "&",
            "=",
            " ",
            "'",
            ";",
            "admin",
            "open",
            "closed",
            "customer",
            "\u{7f}",
            "\u{fffd}",
        ];
        // Now and then long enough for the field limits and, in bodies, the body limit.
        let length = match self.below(50) {
            0 => 20 + self.below(12_000),
            _ => self.below(12),
        };
        (0..length).map(|_| *self.pick(&pieces)).collect()
    }

    fn number(&mut self) -> Value {
        match self.below(6) {
            0 => json!(i64::MAX),
            1 => json!(i64::MIN),
            2 => json!(self.below(10) as i64 - 2),
            3 => json!(self.next() as f64 / 7.0),
            4 => json!(u64::MAX),
            _ => json!(self.next() as i64),
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => self.number(),
            3 | 4 => json!(self.text()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => self.object(depth + 1),
        }
    }

    /// An object with the API's field names (so it often nearly fits a handler) and random values.
    fn object(&mut self, depth: usize) -> Value {
        const FIELDS: [&str; 14] = [
            "title",
            "description",
            "priority",
            "queue_id",
            "body",
            "internal",
            "status",
            "assignee_id",
            "email",
            "display_name",
            "role",
            "name",
            "user_id",
            "x",
        ];
        let mut object = serde_json::Map::new();
        for _ in 0..self.below(7) {
            let field = *self.pick(&FIELDS);
            object.insert(field.to_owned(), self.value(depth));
        }
        Value::Object(object)
    }

    fn query(&mut self) -> String {
        const KEYS: [&str; 7] = [
            "status",
            "queue_id",
            "assignee_id",
            "limit",
            "after",
            "x",
            "",
        ];
        let mut query = String::new();
        for index in 0..self.below(5) {
            if index > 0 {
                query.push('&');
            }
            query.push_str(KEYS[self.below(KEYS.len())]);
            query.push('=');
            let value = match self.below(4) {
                0 => self.number().to_string(),
                1 => format!("{}.{}.{}", self.number(), self.number(), self.number()),
                _ => self.text(),
            };
            for byte in value.bytes() {
                query.push_str(&format!("%{byte:02X}"));
            }
        }
        query
    }
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closes it.
struct Client {
    address: SocketAddr,
    stream: Option<std::io::BufReader<TcpStream>>,
}

impl Client {
    /// Sends one request; the status and body, or `None` when a new connection ended without
    /// one. A reused connection the server closed meanwhile (after a body the handler did not
    /// read, say) is retried on a new one, as HTTP clients do.
    fn send(&mut self, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        let reused = self.stream.is_some();
        self.exchange(head, body)
            .or_else(|| reused.then(|| self.exchange(head, body)).flatten())
    }

    fn exchange(&mut self, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        use std::io::BufRead;
        let reader = self.stream.get_or_insert_with(|| {
            let stream = TcpStream::connect(self.address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            std::io::BufReader::new(stream)
        });
        let mut request = head.as_bytes().to_vec();
        request.extend_from_slice(body);
        let answer = (|| {
            reader.get_mut().write_all(&request).ok()?;
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
            let (mut length, mut close) = (0, false);
            loop {
                line.clear();
                reader.read_line(&mut line).ok()?;
                let header = line.trim_end().to_ascii_lowercase();
                if header.is_empty() {
                    break;
                }
                if let Some(value) = header.strip_prefix("content-length:") {
                    length = value.trim().parse().ok()?;
                }
                close |= header == "connection: close";
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok()?;
            Some((status, body, close))
        })();
        match answer {
            Some((status, body, close)) => {
                if close {
                    self.stream = None;
                }
                Some((status, body))
            }
            None => {
                self.stream = None;
                None
            }
        }
    }
}

/// Random bytes, random JSON and random query strings to every endpoint with valid and invalid
/// tokens: no 5xx, no panic, every refusal in the documented shape. `BOMIZZEL_FUZZ_REQUESTS`
/// (default 10,000) requests per endpoint, `BOMIZZEL_FUZZ_SEED` to replay a run.
#[test]
fn random_requests_never_get_a_5xx_nor_a_panic() {
    let per_endpoint: usize = std::env::var("BOMIZZEL_FUZZ_REQUESTS")
        .map(|text| text.parse().expect("BOMIZZEL_FUZZ_REQUESTS is a count"))
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("BOMIZZEL_FUZZ_SEED")
        .map(|text| text.parse().expect("BOMIZZEL_FUZZ_SEED is a number"))
        .unwrap_or(0x5eed_b0a1);
    let service = Service::start(None);
    let (admin, agent, alice, bob, queue_id, agent_id) = people(&service);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "fuzzed", "queue_id": queue_id})),
    );
    let ticket_id = ticket["id"].as_i64().unwrap();
    let endpoints = [
        ("GET", "/health"),
        ("GET", "/health/ready"),
        ("POST", "/users"),
        ("GET", "/users/me"),
        ("POST", "/queues"),
        ("GET", "/queues"),
        ("POST", "/queues/{id}/agents"),
        ("POST", "/tickets"),
        ("GET", "/tickets"),
        ("GET", "/tickets/{id}"),
        ("PUT", "/tickets/{id}/status"),
        ("PUT", "/tickets/{id}/assignee"),
        ("POST", "/tickets/{id}/comments"),
        ("GET", "/tickets/{id}/comments"),
    ];
    let tokens: Vec<Option<String>> = vec![
        Some(format!("Bearer {admin}")),
        Some(format!("bearer {agent}")),
        Some(format!("Bearer {alice}")),
        Some(format!("BEARER {bob}")),
        Some("Bearer bmz_0000".into()),
        Some("Basic YWRtaW46YWRtaW4=".into()),
        Some("Bearer".into()),
        None,
    ];
    let ids = [
        queue_id.to_string(),
        ticket_id.to_string(),
        agent_id.to_string(),
        "-1".into(),
        "0".into(),
        "99999999999999999999".into(),
        "abc".into(),
        "%00".into(),
    ];
    let mut random = Random(seed);
    let mut client = Client {
        address: service.address,
        stream: None,
    };
    let started = std::time::Instant::now();
    for (method, route) in endpoints {
        let endpoint_started = std::time::Instant::now();
        for _ in 0..per_endpoint {
            let mut path = route.replace("{id}", random.pick(&ids).as_str());
            if random.below(3) == 0 {
                path = format!("{path}?{}", random.query());
            }
            let body = match random.below(4) {
                0 => random.bytes(200),
                1 => Vec::new(),
                _ => random.object(0).to_string().into_bytes(),
            };
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nhost: fuzz\r\ncontent-length: {}\r\n",
                body.len()
            );
            if random.below(8) != 0 {
                head.push_str("content-type: application/json\r\n");
            }
            if let Some(token) = random.pick(&tokens) {
                head.push_str(&format!("authorization: {token}\r\n"));
            }
            head.push_str("\r\n");
            let replay = format!("{method} {path} (seed {seed})");
            let (status, answer) = client
                .send(&head, &body)
                .unwrap_or_else(|| panic!("{replay}: the connection ended without an answer"));
            assert!(
                status < 500,
                "{replay}: {status} {}",
                String::from_utf8_lossy(&answer)
            );
            if status >= 400 {
                let refusal: Value = serde_json::from_slice(&answer).unwrap_or_else(|error| {
                    panic!("{replay}: {status} without a JSON body ({error})")
                });
                assert!(
                    refusal["error"]["code"].is_string() && refusal["error"]["message"].is_string(),
                    "{replay}: {refusal}"
                );
            }
        }
        println!(
            "{method} {route}: {:.1} s",
            endpoint_started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{} requests ({per_endpoint} per endpoint) in {:.1} s",
        per_endpoint * endpoints.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(service_panics(), 0, "no panic on the service's threads");
}

/// `email` with the letters chosen by the bits of `variant` in upper case.
fn case_variant(email: &str, variant: u32) -> String {
    let mut letter = 0;
    email
        .chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            letter += 1;
            if variant >> (letter - 1) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn one_account_per_email_whatever_its_letter_case() {
    let service = Service::start(None);
    let admin = service.admin_token();
    let variants: Vec<String> = (0..20)
        .map(|variant| case_variant("agent1@probe.test", variant))
        .collect();
    let start_together = std::sync::Barrier::new(variants.len());
    let url = service.url("/users");
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let registrations: Vec<_> = variants
            .iter()
            .map(|email| {
                let (url, admin, start_together) = (&url, &admin, &start_together);
                scope.spawn(move || {
                    start_together.wait();
                    let outcome = ureq::post(url)
                        .set("Authorization", &format!("Bearer {admin}"))
                        .send_json(
                            json!({"email": email, "display_name": "Agent", "role": "agent"}),
                        );
                    let response = match outcome {
                        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
                        Err(error) => panic!("POST /users {email}: {error}"),
                    };
                    (response.status(), response.into_json::<Value>().unwrap())
                })
            })
            .collect();
        registrations
            .into_iter()
            .map(|registration| registration.join().unwrap())
            .collect()
    });

    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, user)| user)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert_eq!(
            body["error"]["message"],
            "a user with this email already exists (emails are compared ignoring letter case)",
            "{body}"
        );
    }
    let accounts: i64 = service.runtime.block_on(async {
        sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = 'agent1@probe.test'")
            .fetch_one(&service.pool)
            .await
            .unwrap()
    });
    assert_eq!(accounts, 1);

    // The exact address again, and a new variant after the race, are refused the same way.
    for email in [created[0]["email"].as_str().unwrap(), "AGENT1@PROBE.TEST"] {
        let (status, body) = service.call(
            "POST",
            "/users",
            Some(&admin),
            Some(json!({"email": email, "display_name": "Agent", "role": "agent"})),
        );
        assert_eq!(
            (status, &body["error"]["code"]),
            (409, &json!("conflict")),
            "{body}"
        );
    }
}
