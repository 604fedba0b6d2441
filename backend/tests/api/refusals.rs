//! Every refusal answers with its status and the documented JSON error body, the framework's own
//! refusals and a request that times out included, and the service goes on after it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use backend::Timeouts;
use serde_json::{json, Value};

use super::{assert_error, people, raw_exchange, service_panics, Service};

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

    let cases: Cases = [
        access_refusals(&service, &alice, &bob, id),
        status_change_refusals(&service, &agent, &alice, id),
        new_ticket_refusals(&service, &alice, queue_id),
        assignee_and_comment_refusals(&service, &agent, &alice, agent_id, id),
        query_refusals(&service, &alice),
        user_refusals(&service, &admin, &agent),
        vec![(404, service.call("GET", "/nowhere", Some(&alice), None))],
    ]
    .concat();
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

/// (expected status, what the service answered), in the order they were asked.
type Cases = Vec<(u16, (u16, Value))>;

/// Without a token, with a bad one, on someone else's ticket, on no ticket.
fn access_refusals(service: &Service, alice: &str, bob: &str, id: i64) -> Cases {
    vec![
        (401, service.call("GET", "/tickets", None, None)),
        (
            401,
            service.call("GET", "/tickets", Some("bmz_not-a-token"), None),
        ),
        (
            403,
            service.call("GET", &format!("/tickets/{id}"), Some(bob), None),
        ),
        (
            403,
            service.call("GET", &format!("/tickets/{id}/comments"), Some(bob), None),
        ),
        (
            404,
            service.call("GET", "/tickets/999999", Some(alice), None),
        ),
    ]
}

/// A status change out of order, by a customer, to no such status.
fn status_change_refusals(service: &Service, agent: &str, alice: &str, id: i64) -> Cases {
    vec![
        (
            409,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(agent),
                Some(json!({"status": "resolved"})),
            ),
        ),
        (
            403,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(alice),
                Some(json!({"status": "in_progress"})),
            ),
        ),
        (
            422,
            service.call(
                "PUT",
                &format!("/tickets/{id}/status"),
                Some(agent),
                Some(json!({"status": "lost"})),
            ),
        ),
    ]
}

/// A new ticket with a blank title, a priority out of range, no such queue, no JSON, no title.
fn new_ticket_refusals(service: &Service, alice: &str, queue_id: i64) -> Cases {
    vec![
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(alice),
                Some(json!({"title": "  ", "queue_id": queue_id})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(alice),
                Some(json!({"title": "x", "priority": 9, "queue_id": queue_id})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(alice),
                Some(json!({"title": "x", "queue_id": 424242})),
            ),
        ),
        (400, service.raw("POST", "/tickets", alice, "{not json")),
        (
            422,
            service.call(
                "POST",
                "/tickets",
                Some(alice),
                Some(json!({"queue_id": queue_id})),
            ),
        ),
    ]
}

/// An assignment by a customer or to a customer; an internal or blank comment by a customer.
fn assignee_and_comment_refusals(
    service: &Service,
    agent: &str,
    alice: &str,
    agent_id: i64,
    id: i64,
) -> Cases {
    vec![
        (
            403,
            service.call(
                "PUT",
                &format!("/tickets/{id}/assignee"),
                Some(alice),
                Some(json!({"assignee_id": agent_id})),
            ),
        ),
        (
            422,
            service.call(
                "PUT",
                &format!("/tickets/{id}/assignee"),
                Some(agent),
                Some(json!({"assignee_id": 1})),
            ),
        ),
        (
            403,
            service.call(
                "POST",
                &format!("/tickets/{id}/comments"),
                Some(alice),
                Some(json!({"body": "x", "internal": true})),
            ),
        ),
        (
            422,
            service.call(
                "POST",
                &format!("/tickets/{id}/comments"),
                Some(alice),
                Some(json!({"body": " "})),
            ),
        ),
    ]
}

/// Query strings and paths the lists and tickets cannot read.
fn query_refusals(service: &Service, alice: &str) -> Cases {
    vec![
        (
            400,
            service.call("GET", "/tickets?limit=0", Some(alice), None),
        ),
        (
            400,
            service.call("GET", "/tickets?after=garbage", Some(alice), None),
        ),
        (
            400,
            service.call("GET", "/tickets?status=lost", Some(alice), None),
        ),
        (400, service.call("GET", "/tickets/abc", Some(alice), None)),
    ]
}

/// A user created by an agent, and one whose email is taken.
fn user_refusals(service: &Service, admin: &str, agent: &str) -> Cases {
    vec![
        (
            403,
            service.call(
                "POST",
                "/users",
                Some(agent),
                Some(json!({"email": "x@y.z", "display_name": "x", "role": "admin"})),
            ),
        ),
        (
            409,
            service.call(
                "POST",
                "/users",
                Some(admin),
                Some(
                    json!({"email": "alice@example.com", "display_name": "a", "role": "customer"}),
                ),
            ),
        ),
    ]
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
