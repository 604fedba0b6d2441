//! libpq's TLS settings of one connection string: the modes, where the CAs and the client
//! certificate come from (given, else libpq's `~/.postgresql` files), the combinations libpq
//! refuses, and the same settings as conninfo parameters and `PGSSL*` variables.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::tls::parameters::{is_url, take_from_key_values, take_from_url};

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
    pub(super) fn client_identity_paths(&self) -> Option<(PathBuf, PathBuf)> {
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
    pub(super) fn roots(&self) -> Option<RootCert> {
        self.root_cert
            .clone()
            .or_else(|| postgresql_dir().map(|dir| RootCert::File(dir.join("root.crt"))))
    }

    /// How the server's certificate is checked: libpq's `require` verifies the chain when a CA
    /// file was named, and `allow`/`prefer` never verify.
    pub(super) fn verification(&self) -> Verification {
        match self.mode() {
            SslMode::VerifyFull => Verification::Full,
            SslMode::VerifyCa => Verification::Chain,
            SslMode::Require if self.root_cert.is_some() => Verification::Chain,
            _ => Verification::None,
        }
    }

    /// `sslnegotiation=direct`: TLS from the first byte, without PostgreSQL's request first.
    pub(super) fn direct(&self) -> bool {
        self.direct
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verification {
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
