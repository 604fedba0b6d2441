//! Failed connections named by their TLS cause: the server's refusals that are about TLS, the
//! rustls errors of the handshake, and a server that offers no TLS at all.

use postgres::error::{DbError, SqlState};
use rustls::{AlertDescription, CertificateError};

use crate::tls::settings::{RootCert, SslMode, TlsSettings};

/// Why a connection failed: TLS's own reasons, or the server's answer for the caller to word.
pub(crate) enum Failure {
    Tls(TlsError),
    Postgres(postgres::Error),
}

/// A TLS failure, worded to follow "PostgreSQL at HOST:PORT ".
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("does not offer TLS, which sslmode={mode} requires; turn ssl on in the server's postgresql.conf, or connect with sslmode=prefer")]
    NotOffered { mode: SslMode },
    #[error("accepts only TLS connections (its pg_hba.conf refuses unencrypted ones), and sslmode={mode} did not use TLS; connect with sslmode=require or stronger")]
    RequiresTls { mode: SslMode },
    #[error("presented a certificate that is not signed by a CA in {roots}; set sslrootcert to the file of the CA that signed the server's certificate")]
    Untrusted { roots: RootCert },
    #[error("presented a certificate for {names}, not for \"{host}\" (sslmode=verify-full checks the host name); connect by one of those names, or use sslmode=verify-ca")]
    NameMismatch { host: String, names: String },
    #[error("presented a certificate that cannot be trusted: {reason}")]
    BadCertificate { reason: String },
    #[error("requires a client certificate for user \"{user}\" and none was sent; set sslcert and sslkey to the client certificate and its key")]
    ClientCertMissing { user: String },
    #[error("refused the client certificate {cert} for user \"{user}\": {reason}; check sslcert and sslkey")]
    ClientCertRefused {
        cert: String,
        user: String,
        reason: String,
    },
    #[error("could not complete the TLS handshake: {reason}")]
    Handshake { reason: String },
    #[error("cannot be reached over TLS because of a setting: {0}")]
    Setup(String),
}

/// Names a failure by its TLS cause where it has one.
pub(super) fn classify(
    error: postgres::Error,
    settings: &TlsSettings,
    mode: SslMode,
    user: &str,
    tls_used: bool,
) -> Failure {
    let named = match error.as_db_error() {
        Some(db) => refused_for_tls(db, settings, mode, user, tls_used),
        None => rustls_error(&error)
            .map(|tls_error| handshake_failure(tls_error, settings, user))
            .or_else(|| transport_failure(&error, mode, tls_used)),
    };
    named.map_or(Failure::Postgres(error), Failure::Tls)
}

/// The server's refusals that are about TLS: an unencrypted connection, or our certificate.
fn refused_for_tls(
    db: &DbError,
    settings: &TlsSettings,
    mode: SslMode,
    user: &str,
    tls_used: bool,
) -> Option<TlsError> {
    if *db.code() != SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        return None;
    }
    let message = db.message();
    if !tls_used && message.ends_with("no encryption") {
        return Some(TlsError::RequiresTls { mode });
    }
    if message.contains("requires a valid client certificate") {
        return Some(TlsError::ClientCertMissing {
            user: user.to_owned(),
        });
    }
    message
        .starts_with("certificate authentication failed")
        .then(|| client_cert_refused(settings, user, message.to_owned()))
}

/// What rustls's error during the handshake says of the certificates on either side.
fn handshake_failure(tls_error: &rustls::Error, settings: &TlsSettings, user: &str) -> TlsError {
    match tls_error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => TlsError::Untrusted {
            roots: settings.roots().unwrap_or(RootCert::System),
        },
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => TlsError::NameMismatch {
            host: expected.to_str().into_owned(),
            names: if presented.is_empty() {
                "no host name at all".to_owned()
            } else {
                presented
                    .iter()
                    .map(|name| format!("\"{}\"", presented_name(name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        },
        rustls::Error::InvalidCertificate(other) => TlsError::BadCertificate {
            reason: rustls::Error::InvalidCertificate(other.clone()).to_string(),
        },
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied),
        ) => {
            if settings.client_identity_paths().is_none() {
                TlsError::ClientCertMissing {
                    user: user.to_owned(),
                }
            } else {
                client_cert_refused(
                    settings,
                    user,
                    format!("the server does not accept it (TLS alert {alert:?})"),
                )
            }
        }
        other => TlsError::Handshake {
            reason: other.to_string(),
        },
    }
}

/// A server that offers no TLS, or a handshake that broke off without a rustls error.
fn transport_failure(error: &postgres::Error, mode: SslMode, tls_used: bool) -> Option<TlsError> {
    if innermost(error) == "server does not support TLS" {
        return Some(TlsError::NotOffered { mode });
    }
    (tls_used
        && error
            .to_string()
            .starts_with("error performing TLS handshake"))
    .then(|| TlsError::Handshake {
        reason: innermost(error),
    })
}

/// `localhost` out of webpki's `DnsName("localhost")`, `127.0.0.1` out of `IpAddress(127.0.0.1)`.
fn presented_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(name)
}

fn client_cert_refused(settings: &TlsSettings, user: &str, reason: String) -> TlsError {
    TlsError::ClientCertRefused {
        cert: settings.client_identity_paths().map_or_else(
            || "(none)".to_owned(),
            |(cert, _)| cert.display().to_string(),
        ),
        user: user.to_owned(),
        reason,
    }
}

/// The rustls error somewhere in the chain. `io::Error::source` skips the error it wraps, so
/// each `io::Error` is opened by hand.
fn rustls_error(error: &postgres::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(now) = current {
        if let Some(found) = now.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = now
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        current = now.source();
    }
    None
}

/// The innermost message of an error chain ("Connection refused (os error 111)").
pub(crate) fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
