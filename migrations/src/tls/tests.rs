//! Unit tests of the TLS settings: taking them out of connection strings, libpq's defaults and
//! refusals, and handing them on as conninfo parameters.

use std::path::Path;

use crate::tls::settings::Verification;
use crate::tls::{RootCert, SslMode, TlsSettings};

fn take(text: &str) -> (String, TlsSettings) {
    TlsSettings::take_from(text).unwrap()
}

#[test]
fn url_parameters_are_taken_and_the_rest_kept() {
    let (rest, settings) = take(
        "postgres://u:p%3Fw@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.crt&connect_timeout=3",
    );
    assert_eq!(
        rest,
        "postgres://u:p%3Fw@h:5/db?application_name=x&connect_timeout=3"
    );
    assert_eq!(settings.mode(), SslMode::VerifyFull);
    assert_eq!(
        settings.root_cert(),
        Some(&RootCert::File("/tmp/ca.crt".into()))
    );
    let (rest, settings) = take("postgresql://h/db?sslmode=require");
    assert_eq!(rest, "postgresql://h/db");
    assert_eq!(settings.mode(), SslMode::Require);
}

#[test]
fn key_value_parameters_are_taken_and_the_rest_kept_as_written() {
    let (rest, settings) = take(
        "host=h sslmode = 'verify-ca' password='it\\'s' sslcert=/c.crt sslkey='/my keys/c.key' dbname=d",
    );
    assert_eq!(rest, "host=h password='it\\'s' dbname=d");
    assert_eq!(settings.mode(), SslMode::VerifyCa);
    assert_eq!(settings.cert(), Some(Path::new("/c.crt")));
    assert_eq!(settings.key(), Some(Path::new("/my keys/c.key")));
}

#[test]
fn defaults_and_refusals_follow_libpq() {
    assert_eq!(take("host=h dbname=d").1.mode(), SslMode::Prefer);
    assert_eq!(
        take("host=h dbname=d sslrootcert=system").1.mode(),
        SslMode::VerifyFull
    );
    for (text, needle) in [
        ("host=h sslmode=verify", "sslmode \"verify\" is not one of"),
        (
            "host=h sslmode=require sslrootcert=system",
            "sslrootcert=system needs sslmode=verify-full",
        ),
        (
            "host=h sslnegotiation=direct",
            "sslnegotiation=direct needs sslmode=require",
        ),
    ] {
        let error = TlsSettings::take_from(text).unwrap_err().to_string();
        assert!(error.contains(needle), "{text}: {error}");
    }
    let (_, settings) = take("host=h sslmode=require sslrootcert=/ca.crt");
    assert_eq!(settings.verification(), Verification::Chain);
    assert_eq!(
        take("host=h sslmode=require").1.verification(),
        Verification::None
    );
}

#[test]
fn conninfo_parameters_round_trip() {
    let (_, settings) = take(
        "host=h sslmode=verify-full sslrootcert='/a b/ca.crt' sslcert=/c sslkey=/k sslnegotiation=direct",
    );
    let conninfo = settings
        .conninfo_parameters()
        .iter()
        .map(|(key, value)| format!("{key}={}", crate::database::quote(value)))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(take(&conninfo).1, settings);
}
