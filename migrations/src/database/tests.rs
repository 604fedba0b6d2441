//! Unit tests of connection strings: redaction, multi-host lists, and the secret form handed to children.

use std::time::Duration;

use crate::database::{DatabaseUrl, UrlError};

#[test]
fn redacts_the_password_everywhere() {
    let url: DatabaseUrl = "postgres://alice:s3cret@db.example:6543/app"
        .parse()
        .unwrap();
    assert_eq!(url.redacted(), "postgres://alice:***@db.example:6543/app");
    assert_eq!(url.to_string(), url.redacted());
    assert!(!format!("{url:?}").contains("s3cret"));
    assert_eq!(url.password().as_deref(), Some("s3cret"));
}

#[test]
fn secret_conninfo_round_trips_awkward_passwords() {
    let url: DatabaseUrl = "host=h user=u dbname=d password='it\\'s a\\\\b'"
        .parse()
        .unwrap();
    assert_eq!(url.password().as_deref(), Some("it's a\\b"));
    let again: DatabaseUrl = url.secret_conninfo().parse().unwrap();
    assert_eq!(again.password(), url.password());
    assert_eq!(again.redacted(), url.redacted());
}

#[test]
fn key_value_strings_work_too() {
    let url: DatabaseUrl = "host=127.0.0.1 user=bob password=pw dbname=x"
        .parse()
        .unwrap();
    assert_eq!(url.redacted(), "postgres://bob:***@127.0.0.1:5432/x");
}

#[test]
fn several_hosts_are_all_named_and_handed_on() {
    let url: DatabaseUrl =
        "host=db1,db2 port=5432,5433 user=u password=hunter2 dbname=app target_session_attrs=read-write connect_timeout=3"
            .parse()
            .unwrap();
    assert_eq!(url.to_string(), "postgres://u:***@db1:5432,db2:5433/app");
    assert!(!format!("{url:?}").contains("hunter2"));
    assert_eq!(
        url.host_and_port_lists(),
        ("db1,db2".to_owned(), "5432,5433".to_owned())
    );
    let again: DatabaseUrl = url.secret_conninfo().parse().unwrap();
    assert_eq!(again.server(), "db1:5432,db2:5433");
    assert_eq!(again.target_session_attrs(), Some("read-write"));
    assert_eq!(again.connect_timeout(), Duration::from_secs(3));
    assert_eq!(url.application_name("xtask"), "xtask");
    let named: DatabaseUrl = "dbname=x application_name=ci".parse().unwrap();
    assert_eq!(named.application_name("xtask"), "ci (xtask)");
    // One port for every host.
    let shared: DatabaseUrl = "host=a,b port=6000 dbname=x".parse().unwrap();
    assert_eq!(shared.server(), "a:6000,b:6000");
}

#[test]
fn refuses_garbage_without_echoing_it() {
    let error = "postgres://u:hunter2@h:notaport/db"
        .parse::<DatabaseUrl>()
        .unwrap_err()
        .to_string();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(matches!(
        "postgres://localhost".parse::<DatabaseUrl>(),
        Err(UrlError::NoDatabase)
    ));
}
