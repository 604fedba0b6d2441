//! Creating databases: the one a connection names when it is missing, and scratch databases
//! for one test or one check, dropped with their connections when done.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::error::SqlState;

use crate::database::connect::ConnectError;
use crate::database::url::DatabaseUrl;
use crate::tls;

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
            .map_or_else(|| tls::innermost(error), |db| db.message().to_owned()),
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
