//! Connecting to PostgreSQL with errors a person can act on, and never a password in them.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::config::{Host, TargetSessionAttrs};
use postgres::error::SqlState;
use postgres::{Client, Config};

use crate::libpq::quote;
use crate::tls::{self, TlsSettings};

/// How long a connection attempt may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed connection string. It keeps the password inside the parsed config only; `Display`
/// and `Debug` show the redacted form, so formatting one can never leak it.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: Config,
    /// The `ssl*` parameters, which `Config` cannot hold (see [`tls`]).
    tls: TlsSettings,
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

    /// Opens a connection, tagged with [`DatabaseUrl::application_name`].
    pub fn connect(&self, application: &str) -> Result<Client, ConnectError> {
        let mut config = self.config.clone();
        config.application_name(&self.application_name(application));
        tls::connect(&config, &self.tls).map_err(|failure| match failure {
            tls::Failure::Tls(error) => ConnectError::Tls {
                server: self.server(),
                error,
            },
            tls::Failure::Postgres(error) => ConnectError::from_postgres(self, &error),
        })
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

/// Why a connection could not be opened, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach PostgreSQL at {server}: {reason}; is the server running and the address right?")]
    Unreachable { server: String, reason: String },
    #[error("PostgreSQL at {server} rejected the password for user \"{user}\"; check the password in the database URL, PGPASSWORD or the password file")]
    WrongPassword { server: String, user: String },
    #[error("PostgreSQL at {server} asks for a password for user \"{user}\" and none was given; set it in DATABASE_URL, PGPASSWORD or the password file (~/.pgpass)")]
    NoPassword { server: String, user: String },
    #[error("PostgreSQL at {server} refused user \"{user}\": {reason}")]
    Refused {
        server: String,
        user: String,
        reason: String,
    },
    #[error("no server of {server} accepts writes (target_session_attrs=read-write): each one that answered is a standby or read-only")]
    NoWritableServer { server: String },
    #[error("database \"{database}\" does not exist on {server}")]
    NoSuchDatabase { server: String, database: String },
    #[error("PostgreSQL at {server} {error}")]
    Tls {
        server: String,
        error: tls::TlsError,
    },
}

impl ConnectError {
    fn from_postgres(url: &DatabaseUrl, error: &postgres::Error) -> ConnectError {
        let server = url.server();
        let user = url.user().to_owned();
        match error.code() {
            Some(code) if *code == SqlState::INVALID_PASSWORD => {
                ConnectError::WrongPassword { server, user }
            }
            Some(code) if *code == SqlState::INVALID_CATALOG_NAME => ConnectError::NoSuchDatabase {
                server,
                database: url.database().to_owned(),
            },
            Some(_) => ConnectError::Refused {
                server,
                user,
                reason: error
                    .as_db_error()
                    .map_or_else(|| error.to_string(), |db| db.message().to_owned()),
            },
            None => match root_cause(error) {
                // tokio-postgres's words when the server asks for a password the config lacks.
                reason if reason == "password missing" => ConnectError::NoPassword { server, user },
                reason if reason == "database does not allow writes" => {
                    ConnectError::NoWritableServer { server }
                }
                reason => ConnectError::Unreachable { server, reason },
            },
        }
    }
}

/// The innermost message of an error chain ("Connection refused (os error 111)").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Fails a database operation that is not a connection attempt.
#[derive(Debug, thiserror::Error)]
#[error("{action} on {server}: {message}")]
pub struct AdminError {
    action: String,
    server: String,
    message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

/// `"name"` with embedded quotes doubled, for identifiers that cannot be bound as parameters.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates `url`'s database when it does not exist yet. Returns whether it created it.
pub fn create_database_if_missing(
    url: &DatabaseUrl,
    application: &str,
) -> Result<bool, DatabaseError> {
    match url.connect(application) {
        Ok(_) => return Ok(false),
        Err(ConnectError::NoSuchDatabase { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    let mut admin = url.with_database("postgres").connect(application)?;
    let statement = format!("CREATE DATABASE {}", quote_identifier(url.database()));
    match admin.batch_execute(&statement) {
        Ok(()) => Ok(true),
        // Another process created it between our two connections.
        Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(false),
        Err(error) => Err(admin_error(url, "creating database", &error).into()),
    }
}

fn admin_error(url: &DatabaseUrl, action: &str, error: &postgres::Error) -> AdminError {
    AdminError {
        action: format!("{action} \"{}\"", url.database()),
        server: url.server(),
        message: error
            .as_db_error()
            .map_or_else(|| root_cause(error), |db| db.message().to_owned()),
    }
}

/// A database made for one test or one check, dropped (with its connections) when this goes away.
pub struct ScratchDatabase {
    url: DatabaseUrl,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>_<time>_<n>` on the server `admin` points to.
    pub fn create(admin: &DatabaseUrl, prefix: &str) -> Result<ScratchDatabase, DatabaseError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let url = admin.with_database(&name);
        let mut client = admin
            .with_database("postgres")
            .connect("bomizzel-scratch")?;
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(&name)))
            .map_err(|error| admin_error(&url, "creating scratch database", &error))?;
        Ok(ScratchDatabase { url })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        self.url.database()
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Best effort: a drop that fails leaves a uniquely named database behind, never a shared one.
        if let Ok(mut client) = self
            .url
            .with_database("postgres")
            .connect("bomizzel-scratch")
        {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_identifier(self.name())
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
