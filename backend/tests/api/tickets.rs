//! A ticket's life from open to closed, keyset paging of the lists, and one account per email
//! whatever its letter case.

use serde_json::{json, Value};

use super::{people, Service};

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

    the_agent_takes_it(&service, &agent, id, agent_id);

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

    internal_notes_are_hidden_from_customers(&service, &agent, &alice, id);

    let (status, me) = service.call("GET", "/users/me", Some(&alice), None);
    assert_eq!((status, &me["role"]), (200, &json!("customer")));
}

/// The agent sees the ticket, assigns it to themself, and finds it among their open tickets.
fn the_agent_takes_it(service: &Service, agent: &str, id: i64, agent_id: i64) {
    let (status, seen) = service.call("GET", &format!("/tickets/{id}"), Some(agent), None);
    assert_eq!((status, &seen["title"]), (200, &json!("Invoice wrong")));
    let (status, assigned) = service.call(
        "PUT",
        &format!("/tickets/{id}/assignee"),
        Some(agent),
        Some(json!({"assignee_id": agent_id})),
    );
    assert_eq!(
        (status, assigned["assignee_id"].as_i64()),
        (200, Some(agent_id))
    );
    let (status, page) = service.call(
        "GET",
        &format!("/tickets?assignee_id={agent_id}&status=open"),
        Some(agent),
        None,
    );
    assert_eq!(
        (status, page["tickets"].as_array().unwrap().len()),
        (200, 1)
    );
}

/// The customer's comment and the agent's internal note: the customer sees only the first.
fn internal_notes_are_hidden_from_customers(service: &Service, agent: &str, alice: &str, id: i64) {
    let (status, _) = service.call(
        "POST",
        &format!("/tickets/{id}/comments"),
        Some(alice),
        Some(json!({"body": "thanks"})),
    );
    assert_eq!(status, 201);
    let (status, _) = service.call(
        "POST",
        &format!("/tickets/{id}/comments"),
        Some(agent),
        Some(json!({"body": "refund issued", "internal": true})),
    );
    assert_eq!(status, 201);
    let (_, for_alice) = service.call("GET", &format!("/tickets/{id}/comments"), Some(alice), None);
    let (_, for_agent) = service.call("GET", &format!("/tickets/{id}/comments"), Some(agent), None);
    assert_eq!(
        for_alice.as_array().unwrap().len(),
        1,
        "internal notes are hidden from customers"
    );
    assert_eq!(for_agent.as_array().unwrap().len(), 2);
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
