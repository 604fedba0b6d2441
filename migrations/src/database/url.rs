//! A connection string, parsed: libpq's forms (URL or key/value, several hosts, the `ssl*`
//! parameters), shown only redacted, and handed on whole to a child through its environment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, TargetSessionAttrs};
use postgres::Config;

use crate::tls::{self, TlsSettings};

/// How long a connection attempt may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed connection string. It keeps the password inside the parsed config only; `Display`
/// and `Debug` show the redacted form, so formatting one can never leak it.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(super) config: Config,
    /// The `ssl*` parameters, which `Config` cannot hold (see [`tls`]).
    pub(super) tls: TlsSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("not a PostgreSQL connection string ({0}); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")]
    Invalid(String),
    #[error("names no database; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")]
    NoDatabase,
    #[error(transparent)]
    Tls(#[from] tls::SettingError),
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (text, tls) = TlsSettings::take_from(text)?;
        // The parser's own message may quote the input, password included: keep only its kind.
        let mut config = Config::from_str(&text).map_err(|error| {
            UrlError::Invalid(
                error
                    .to_string()
                    .split(':')
                    .next()
                    .unwrap_or("unparsable")
                    .trim()
                    .to_owned(),
            )
        })?;
        if config.get_dbname().is_none() {
            return Err(UrlError::NoDatabase);
        }
        if config.get_user().is_none() {
            config.user(&default_user());
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Ok(DatabaseUrl { config, tls })
    }
}

/// The role libpq would use when none is given: `PGUSER`, else the login name.
pub fn default_user() -> String {
    ["PGUSER", "USER", "LOGNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| "postgres".to_owned())
}

impl DatabaseUrl {
    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The password, for handing to a child program through its environment (never its argv).
    pub fn password(&self) -> Option<String> {
        self.config
            .get_password()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    /// The first host (a socket folder for a Unix-socket connection).
    pub fn host(&self) -> String {
        self.endpoints()
            .into_iter()
            .next()
            .map_or_else(|| "localhost".to_owned(), |endpoint| endpoint.host)
    }

    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// Every host with its port, in the order they are tried (libpq's multi-host lists: one port
    /// for all hosts, or one per host).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let ports = self.config.get_ports();
        self.config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| {
                let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    Host::Tcp(name) => Endpoint {
                        host: name.clone(),
                        port,
                        socket: false,
                    },
                    #[cfg(unix)]
                    Host::Unix(path) => Endpoint {
                        host: path.display().to_string(),
                        port,
                        socket: true,
                    },
                }
            })
            .collect()
    }

    /// `host:port`, or `host1:port1,host2:port2` for several hosts, for messages.
    pub fn server(&self) -> String {
        self.endpoints()
            .iter()
            .map(|endpoint| format!("{}:{}", endpoint.host, endpoint.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The hosts and the ports as libpq's `PGHOST`/`PGPORT` lists (`h1,h2`, `5432,5433`).
    pub fn host_and_port_lists(&self) -> (String, String) {
        let endpoints = self.endpoints();
        let hosts = endpoints.iter().map(|endpoint| endpoint.host.as_str());
        let ports = endpoints.iter().map(|endpoint| endpoint.port.to_string());
        (
            hosts.collect::<Vec<_>>().join(","),
            ports.collect::<Vec<_>>().join(","),
        )
    }

    /// libpq's `target_session_attrs` when it asks for more than any server.
    pub fn target_session_attrs(&self) -> Option<&'static str> {
        match self.config.get_target_session_attrs() {
            TargetSessionAttrs::ReadWrite => Some("read-write"),
            TargetSessionAttrs::ReadOnly => Some("read-only"),
            _ => None,
        }
    }

    /// How long one host's connection attempt may take (`connect_timeout`).
    pub fn connect_timeout(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The same connection with a password found elsewhere (`PGPASSWORD`, the password file).
    pub fn with_password(&self, password: &str) -> DatabaseUrl {
        let mut config = self.config.clone();
        config.password(password);
        DatabaseUrl {
            config,
            tls: self.tls.clone(),
        }
    }

    /// A libpq key/value string with the password, for a child process's environment only
    /// (`DATABASE_URL`), never for its command line, a message or a log.
    pub fn secret_conninfo(&self) -> String {
        let (hosts, ports) = self.host_and_port_lists();
        let mut conninfo = format!(
            "host={} port={} user={} dbname={} connect_timeout={}",
            quote(&hosts),
            quote(&ports),
            quote(self.user()),
            quote(self.database()),
            self.connect_timeout().as_secs().max(1)
        );
        if let Some(attrs) = self.target_session_attrs() {
            conninfo.push_str(&format!(" target_session_attrs={attrs}"));
        }
        if let Some(password) = self.password() {
            conninfo.push_str(&format!(" password={}", quote(&password)));
        }
        for (key, value) in self.tls.conninfo_parameters() {
            conninfo.push_str(&format!(" {key}={}", quote(&value)));
        }
        conninfo
    }

    /// The same server and credentials, another database (to create or drop this one).
    pub fn with_database(&self, database: &str) -> DatabaseUrl {
        let mut config = self.config.clone();
        config.dbname(database);
        DatabaseUrl {
            config,
            tls: self.tls.clone(),
        }
    }

    /// `postgres://user@host:port/db`: safe to print, log and store.
    pub fn redacted(&self) -> String {
        let password = if self.config.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        format!(
            "postgres://{}{password}@{}/{}",
            self.user(),
            self.server(),
            self.database()
        )
    }

    /// `application` after the `application_name` the connection string gives (e.g. from
    /// `PGAPPNAME`), for `pg_stat_activity`: ours names the command, which the migration lock's
    /// messages rely on.
    pub fn application_name(&self, application: &str) -> String {
        match self.config.get_application_name() {
            Some(given) => format!("{given} ({application})"),
            None => application.to_owned(),
        }
    }

    /// The TLS settings, for a client other than ours (the backend's, a child's environment).
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }
}

/// One host of a connection and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A host name or address, or a socket folder.
    pub host: String,
    pub port: u16,
    /// A Unix-socket folder rather than a TCP host.
    pub socket: bool,
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// A connection-string value in single quotes, `\` and `'` escaped.
pub(crate) fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}
