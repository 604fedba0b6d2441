//! Fields, bodies and lists have bounds, and going over one is refused, never truncated.

use serde_json::{json, Value};

use super::{assert_error, people, Service};

#[test]
fn fields_bodies_and_lists_have_bounds() {
    let service = Service::start(None);
    let (admin, _agent, alice, _bob, queue_id, _) = people(&service);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "long", "description": long(20_000), "queue_id": queue_id})),
    );
    let id = ticket["id"].as_i64().unwrap();
    values_over_a_field_limit_are_unprocessable(&service, &admin, &alice, queue_id, id);
    a_body_over_the_limit_is_too_large(&service, &alice, queue_id);
    lists_cut_the_description_a_ticket_shows_it_whole(&service, &alice, id);
    comments_page_by_the_link_header(&service, &alice, id);
}

/// A text of `chars` two-byte characters: over a limit counted in characters, under it in bytes.
fn long(chars: usize) -> String {
    "é".repeat(chars)
}

/// A title, description, comment, email or display name over its limit: 422 `invalid`.
fn values_over_a_field_limit_are_unprocessable(
    service: &Service,
    admin: &str,
    alice: &str,
    queue_id: i64,
    id: i64,
) {
    let over = [
        (
            "/tickets",
            alice,
            json!({"title": long(201), "queue_id": queue_id}),
        ),
        (
            "/tickets",
            alice,
            json!({"title": "t", "description": long(20_001), "queue_id": queue_id}),
        ),
        (
            &format!("/tickets/{id}/comments"),
            alice,
            json!({"body": long(20_001)}),
        ),
        (
            "/users",
            admin,
            json!({"email": long(255), "display_name": "n", "role": "customer"}),
        ),
        (
            "/users",
            admin,
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
}

/// A body over `BODY_BYTES`: 413 `too_large`, saying the limit.
fn a_body_over_the_limit_is_too_large(service: &Service, alice: &str, queue_id: i64) {
    let huge = format!(
        r#"{{"title": "t", "queue_id": {queue_id}, "description": "{}"}}"#,
        "x".repeat(backend::limits::BODY_BYTES)
    );
    let message = assert_error(
        service.raw("POST", "/tickets", alice, &huge),
        413,
        "too_large",
    );
    assert!(message.contains("262144 bytes"), "{message}");
}

/// A list shows the first 200 characters of a description and says so; the ticket shows it whole.
fn lists_cut_the_description_a_ticket_shows_it_whole(service: &Service, alice: &str, id: i64) {
    let (status, page) = service.call("GET", "/tickets", Some(alice), None);
    assert_eq!(status, 200);
    let listed = &page["tickets"][0];
    assert_eq!(listed["description"].as_str().unwrap().chars().count(), 200);
    assert_eq!(listed["description_truncated"], json!(true));
    let (_, whole) = service.call("GET", &format!("/tickets/{id}"), Some(alice), None);
    assert_eq!(
        whole["description"].as_str().unwrap().chars().count(),
        20_000
    );
}

/// Comments page two at a time by the `link` header, in order; a bad cursor is a 400.
fn comments_page_by_the_link_header(service: &Service, alice: &str, id: i64) {
    for index in 0..5 {
        let (status, _) = service.call(
            "POST",
            &format!("/tickets/{id}/comments"),
            Some(alice),
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
            Some(alice),
            None,
        ),
        400,
        "bad_request",
    );
}
