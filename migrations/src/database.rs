//! Connecting to PostgreSQL with errors a person can act on, and never a password in them: the
//! connection string (`url`), opening a connection (`connect`), and creating databases (`admin`).

mod admin;
mod connect;
mod url;

#[cfg(test)]
mod tests;

pub use self::admin::{
    create_database_if_missing, quote_identifier, AdminError, DatabaseError, ScratchDatabase,
};
pub use self::connect::ConnectError;
pub(crate) use self::url::quote;
pub use self::url::{default_user, DatabaseUrl, Endpoint, UrlError};
