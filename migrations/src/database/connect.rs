//! Opening a connection, and why one could not be opened, phrased for the person who has to fix it.

use postgres::error::SqlState;
use postgres::Client;

use crate::database::url::DatabaseUrl;
use crate::tls;

impl DatabaseUrl {
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
            None => match tls::innermost(error) {
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
