//! TLS for every connection, with libpq's settings and meanings: `sslmode` (`disable`, `allow`,
//! `prefer` by default, `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or
//! `system` for the platform's roots), `sslcert`/`sslkey` (a client certificate) and
//! `sslnegotiation=direct`. The `postgres` crate knows only three modes and none of the files, so
//! these parameters are taken out of the connection string before it sees the rest.
//!
//! A failed connection is explained by what failed: the server offers no TLS, its certificate is
//! not signed by the CA given, it names other hosts, it refused our certificate, or it refused an
//! unencrypted connection. No message ever holds a key's contents.
//!
//! This file opens the connection; `settings` holds what a string asks for (taken out of it by
//! `parameters`), `connector` the rustls configuration, `failure` the naming of failures.

mod connector;
mod failure;
mod parameters;
mod settings;

#[cfg(test)]
mod tests;

use postgres::config::{Host, SslMode as WireMode, SslNegotiation};
use postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::connector::client_config;
use self::failure::classify;
pub use self::failure::TlsError;
pub(crate) use self::failure::{innermost, Failure};
pub use self::settings::{RootCert, SettingError, SslMode, TlsSettings};

/// Opens a connection with `settings`' TLS, `config` holding everything else.
pub(crate) fn connect(config: &Config, settings: &TlsSettings) -> Result<Client, Failure> {
    let user = config.get_user().unwrap_or_default().to_owned();
    let unix_only = !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|host| !matches!(host, Host::Tcp(_)));
    // libpq never uses TLS over a Unix socket, whatever sslmode says.
    let mode = if unix_only {
        SslMode::Disable
    } else {
        settings.mode()
    };
    let plain = || {
        let mut config = config.clone();
        config.ssl_mode(WireMode::Disable);
        config.connect(NoTls)
    };
    let encrypted = |wire: WireMode| -> Result<Client, Failure> {
        let tls =
            client_config(settings).map_err(|reason| Failure::Tls(TlsError::Setup(reason)))?;
        let mut config = config.clone();
        config.ssl_mode(wire);
        if settings.direct() {
            config.ssl_negotiation(SslNegotiation::Direct);
        }
        config
            .connect(MakeRustlsConnect::new(tls))
            .map_err(|error| classify(error, settings, mode, &user, true))
    };
    match mode {
        SslMode::Disable => plain().map_err(|error| classify(error, settings, mode, &user, false)),
        // libpq's `allow`: unencrypted first, TLS only when the server refuses that.
        SslMode::Allow => match plain() {
            Err(error) if error.as_db_error().is_some() => encrypted(WireMode::Require),
            other => other.map_err(|error| classify(error, settings, mode, &user, false)),
        },
        SslMode::Prefer => encrypted(WireMode::Prefer),
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => encrypted(WireMode::Require),
    }
}
