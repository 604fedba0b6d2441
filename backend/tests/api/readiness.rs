//! `/health/ready` follows the schema version and never shows the database's own words.

use backend::Timeouts;
use migrations::{DatabaseUrl, ScratchDatabase};
use serde_json::{json, Value};

use super::{assert_error, server, spawn_service, Service};

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
