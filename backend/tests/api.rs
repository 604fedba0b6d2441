//! The service over real HTTP, on a scratch database migrated by the engine.

use std::net::SocketAddr;

use backend::{issue_token, lazy_pool, router, AppState};
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

impl Service {
    /// Migrated up to `target` (all when `None`), serving on a free loopback port.
    fn start(target: Option<i32>) -> Service {
        let db = ScratchDatabase::create(&server(), "bomizzel_api").unwrap();
        let service_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let pool = service_runtime.block_on(async { lazy_pool(db.url(), 8) });
        let listener = service_runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let app = router(AppState { pool: pool.clone() });
        service_runtime.spawn(async move { axum::serve(listener, app).await });
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
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pool = runtime.block_on(async { lazy_pool(db.url(), 8) });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, router(AppState { pool })).await });
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
