//! TLS for every connection, with libpq's settings and meanings: `sslmode` (`disable`, `allow`,
//! `prefer` by default, `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or
//! `system` for the platform's roots), `sslcert`/`sslkey` (a client certificate) and
//! `sslnegotiation=direct`. The `postgres` crate knows only three modes and none of the files, so
//! these parameters are taken out of the connection string before it sees the rest.
//!
//! A failed connection is explained by what failed: the server offers no TLS, its certificate is
//! not signed by the CA given, it names other hosts, it refused our certificate, or it refused an
//! unencrypted connection. No message ever holds a key's contents.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::config::{Host, SslMode as WireMode, SslNegotiation};
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connection-string parameters this module owns.
const PARAMETERS: [&str; 5] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
];

/// libpq's `sslmode`: how much TLS a connection insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode, SettingError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(SettingError(format!(
                    "sslmode \"{value}\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the CAs that may sign the server's certificate come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    File(PathBuf),
    /// The platform's trusted roots (`sslrootcert=system`).
    System,
}

impl fmt::Display for RootCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootCert::File(path) => write!(f, "{}", path.display()),
            RootCert::System => f.write_str("the system's trusted roots (sslrootcert=system)"),
        }
    }
}

/// The TLS settings of one connection string. Unset ones take libpq's defaults when connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    mode: Option<SslMode>,
    root_cert: Option<RootCert>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    direct: bool,
}

/// A TLS parameter that cannot be used as given. Its text names the parameter, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingError(String);

impl TlsSettings {
    /// Takes the TLS parameters out of a URL's query or a key/value string, giving back the rest
    /// for the `postgres` crate's parser. Text this does not understand is left whole for that
    /// parser to refuse.
    pub fn take_from(text: &str) -> Result<(String, TlsSettings), SettingError> {
        let (rest, taken) = if is_url(text) {
            take_from_url(text)
        } else {
            take_from_key_values(text)
        };
        let mut settings = TlsSettings::default();
        for (key, value) in taken {
            match key.as_str() {
                "sslmode" => settings.mode = Some(SslMode::parse(&value)?),
                "sslrootcert" if value == "system" => settings.root_cert = Some(RootCert::System),
                "sslrootcert" => settings.root_cert = Some(RootCert::File(value.into())),
                "sslcert" => settings.cert = Some(value.into()),
                "sslkey" => settings.key = Some(value.into()),
                "sslnegotiation" => {
                    settings.direct = match value.as_str() {
                        "direct" => true,
                        "postgres" => false,
                        _ => {
                            return Err(SettingError(format!(
                                "sslnegotiation \"{value}\" is not one of postgres, direct"
                            )))
                        }
                    }
                }
                _ => unreachable!("only PARAMETERS are taken"),
            }
        }
        settings.check()?;
        Ok((rest, settings))
    }

    /// libpq's refusals of combinations that would silently weaken what was asked for.
    fn check(&self) -> Result<(), SettingError> {
        let mode = self.mode();
        if self.root_cert == Some(RootCert::System) && mode < SslMode::VerifyFull {
            return Err(SettingError(format!(
                "sslrootcert=system needs sslmode=verify-full (a public CA signs certificates for anyone's hosts), not sslmode={mode}"
            )));
        }
        if self.direct && mode < SslMode::Require {
            return Err(SettingError(format!(
                "sslnegotiation=direct needs sslmode=require or stronger (it cannot fall back to an unencrypted connection), not sslmode={mode}"
            )));
        }
        Ok(())
    }

    /// The mode in force: as given, else `verify-full` with the system's roots (as libpq 16+),
    /// else `prefer`.
    pub fn mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (Some(mode), _) => mode,
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }

    pub fn root_cert(&self) -> Option<&RootCert> {
        self.root_cert.as_ref()
    }

    pub fn cert(&self) -> Option<&Path> {
        self.cert.as_deref()
    }

    pub fn key(&self) -> Option<&Path> {
        self.key.as_deref()
    }

    /// The parameters as given, as key/value pairs for a libpq conninfo string.
    pub fn conninfo_parameters(&self) -> Vec<(&'static str, String)> {
        let path = |path: &Path| path.display().to_string();
        let mut parameters = Vec::new();
        if let Some(mode) = self.mode {
            parameters.push(("sslmode", mode.as_str().to_owned()));
        }
        match &self.root_cert {
            Some(RootCert::File(file)) => parameters.push(("sslrootcert", path(file))),
            Some(RootCert::System) => parameters.push(("sslrootcert", "system".to_owned())),
            None => {}
        }
        if let Some(cert) = &self.cert {
            parameters.push(("sslcert", path(cert)));
        }
        if let Some(key) = &self.key {
            parameters.push(("sslkey", path(key)));
        }
        if self.direct {
            parameters.push(("sslnegotiation", "direct".to_owned()));
        }
        parameters
    }

    /// The same settings as libpq's environment variables, for a child program; `None` for a
    /// variable to remove, so one left in our environment cannot change what the child does.
    /// `PGSSLNEGOTIATION` is set only for direct negotiation: libpq before 17 ignores it.
    pub fn environment(&self) -> Vec<(&'static str, Option<String>)> {
        let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
        vec![
            ("PGSSLMODE", Some(self.mode().as_str().to_owned())),
            (
                "PGSSLROOTCERT",
                self.root_cert.as_ref().map(|root| match root {
                    RootCert::File(file) => file.display().to_string(),
                    RootCert::System => "system".to_owned(),
                }),
            ),
            ("PGSSLCERT", path(&self.cert)),
            ("PGSSLKEY", path(&self.key)),
            ("PGSSLNEGOTIATION", self.direct.then(|| "direct".to_owned())),
        ]
    }

    /// The client certificate and key files to present: as given, else libpq's
    /// `~/.postgresql/postgresql.crt` and `.key` when the certificate file exists.
    fn client_identity_paths(&self) -> Option<(PathBuf, PathBuf)> {
        let dir = postgresql_dir();
        let cert = self
            .cert
            .clone()
            .or_else(|| dir.as_ref().map(|dir| dir.join("postgresql.crt")))?;
        if self.cert.is_none() && !cert.is_file() {
            return None;
        }
        let key = self
            .key
            .clone()
            .or_else(|| dir.map(|dir| dir.join("postgresql.key")))
            .unwrap_or_else(|| cert.with_extension("key"));
        Some((cert, key))
    }

    /// The CA file a verifying mode uses: as given, else libpq's `~/.postgresql/root.crt`.
    fn roots(&self) -> Option<RootCert> {
        self.root_cert
            .clone()
            .or_else(|| postgresql_dir().map(|dir| RootCert::File(dir.join("root.crt"))))
    }

    /// How the server's certificate is checked: libpq's `require` verifies the chain when a CA
    /// file was named, and `allow`/`prefer` never verify.
    fn verification(&self) -> Verification {
        match self.mode() {
            SslMode::VerifyFull => Verification::Full,
            SslMode::VerifyCa => Verification::Chain,
            SslMode::Require if self.root_cert.is_some() => Verification::Chain,
            _ => Verification::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verification {
    None,
    Chain,
    Full,
}

/// `~/.postgresql`, where libpq looks for the CA and client certificate files by default.
fn postgresql_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".postgresql"))
}

fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Splits `?a=1&b=2` off a URL the way the `postgres` crate does: the query starts at the first
/// `?` after the user info.
fn take_from_url(text: &str) -> (String, Vec<(String, String)>) {
    let after_credentials = text.find('@').map_or(0, |at| at + 1);
    let Some(question) = text[after_credentials..]
        .find('?')
        .map(|at| at + after_credentials)
    else {
        return (text.to_owned(), Vec::new());
    };
    let (mut kept, mut taken) = (Vec::new(), Vec::new());
    for pair in text[question + 1..]
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if PARAMETERS.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = text[..question].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    (rest, taken)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Takes the TLS pairs out of `key=value key='quoted value'`, keeping every other pair's text
/// as written (quotes, escapes and all). Stops at anything malformed, leaving it in place.
fn take_from_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let mut chars = text.char_indices().peekable();
    let mut rest = String::new();
    let mut kept_from = 0;
    let mut taken = Vec::new();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        skip_space(&mut chars);
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            break;
        }
        skip_space(&mut chars);
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut value = String::new();
        let mut closed = !quoted;
        while let Some(&(_, c)) = chars.peek() {
            if quoted && c == '\'' {
                chars.next();
                closed = true;
                break;
            }
            if !quoted && c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        if !closed {
            break;
        }
        if PARAMETERS.contains(&key.as_str()) {
            rest.push_str(&text[kept_from..start]);
            skip_space(&mut chars);
            kept_from = chars.peek().map_or(text.len(), |&(at, _)| at);
            taken.push((key, value));
        }
    }
    rest.push_str(&text[kept_from..]);
    (rest.trim().to_owned(), taken)
}

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
        if settings.direct {
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

/// Names a failure by its TLS cause where it has one.
fn classify(
    error: postgres::Error,
    settings: &TlsSettings,
    mode: SslMode,
    user: &str,
    tls_used: bool,
) -> Failure {
    if let Some(db) = error.as_db_error() {
        if *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            let message = db.message();
            if !tls_used && message.ends_with("no encryption") {
                return Failure::Tls(TlsError::RequiresTls { mode });
            }
            if message.contains("requires a valid client certificate") {
                return Failure::Tls(TlsError::ClientCertMissing {
                    user: user.to_owned(),
                });
            }
            if message.starts_with("certificate authentication failed") {
                return Failure::Tls(client_cert_refused(settings, user, message.to_owned()));
            }
        }
        return Failure::Postgres(error);
    }
    if let Some(tls_error) = rustls_error(&error) {
        return Failure::Tls(match tls_error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                TlsError::Untrusted {
                    roots: settings.roots().unwrap_or(RootCert::System),
                }
            }
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
        });
    }
    if innermost(&error) == "server does not support TLS" {
        return Failure::Tls(TlsError::NotOffered { mode });
    }
    if tls_used
        && error
            .to_string()
            .starts_with("error performing TLS handshake")
    {
        return Failure::Tls(TlsError::Handshake {
            reason: innermost(&error),
        });
    }
    Failure::Postgres(error)
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

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The rustls configuration for `settings`. Errors name the file and parameter at fault.
fn client_config(settings: &TlsSettings) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .dangerous();
    let verification = settings.verification();
    let verifier: Arc<dyn ServerCertVerifier> = if verification == Verification::None {
        Arc::new(AnyCertificate(provider))
    } else {
        let roots = settings.roots().ok_or_else(|| {
            format!(
                "sslmode={} needs the CA that signed the server's certificate: set sslrootcert to its file, or sslrootcert=system",
                settings.mode()
            )
        })?;
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(root_store(&roots, settings.mode())?),
            provider,
        )
        .build()
        .map_err(|error| format!("cannot use the CAs of {roots}: {error}"))?;
        if verification == Verification::Full {
            webpki
        } else {
            Arc::new(AnyHostName(webpki))
        }
    };
    let builder = builder.with_custom_certificate_verifier(verifier);
    let mut config = match settings.client_identity_paths() {
        Some((cert, key)) => {
            let chain = read_certificates(&cert, "sslcert")?;
            let key = PrivateKeyDer::from_pem_file(&key).map_err(|_| {
                format!(
                    "sslkey {} cannot be read as a PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                format!("sslcert and sslkey do not make a client identity: {error}")
            })?
        }
        None => builder.with_no_client_auth(),
    };
    // Required by servers that take direct TLS connections (PostgreSQL 17+), ignored by others.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn root_store(roots: &RootCert, mode: SslMode) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        RootCert::File(path) => {
            if !path.exists() {
                return Err(format!(
                    "root certificate file {} does not exist; sslmode={mode} needs the CA that signed the server's certificate: set sslrootcert to its file, or sslrootcert=system",
                    path.display()
                ));
            }
            store.add_parsable_certificates(read_certificates(path, "sslrootcert")?);
        }
    }
    if store.is_empty() {
        return Err(format!("{roots} holds no usable CA certificate"));
    }
    Ok(store)
}

fn read_certificates(path: &Path, parameter: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| match error {
            rustls::pki_types::pem::Error::Io(io) => {
                format!("cannot read {parameter} file {}: {io}", path.display())
            }
            _ => format!(
                "{parameter} file {} is not a PEM certificate file",
                path.display()
            ),
        })?;
    if certificates.is_empty() {
        return Err(format!(
            "{parameter} file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certificates)
}

/// `allow`, `prefer`, and `require` without a CA: encrypted, the server not authenticated (libpq
/// does the same). The handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not checked. webpki checks
/// the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
