//! Connection poolers. Through a pooler in transaction (or statement) mode, a client's session is
//! lent a server connection per transaction: the migration lock (a session advisory lock) stays
//! on a server connection the runner no longer holds, and `CREATE INDEX CONCURRENTLY` needs a
//! session of its own. Such a URL is refused before the lock is taken, and the database's direct
//! address (`--direct-url`, `DIRECT_DATABASE_URL`) is used for migrations instead, while the
//! application keeps the pooled one. Session-mode pooling keeps one server connection per client
//! and is fine.

use anyhow::{Context, Result};
use migrations::DatabaseUrl;
use postgres::Client;

/// The direct URL when one is given: `--direct-url` (`flag`), else `DIRECT_DATABASE_URL` unless
/// `--database-url` names the database on the command line (a flag beats the environment).
pub fn direct_url(flag: Option<&str>, database_url_given: bool) -> Result<Option<DatabaseUrl>> {
    let (text, origin) = match flag {
        Some(url) => (url.to_owned(), "--direct-url"),
        None if !database_url_given => {
            match std::env::var("DIRECT_DATABASE_URL")
                .ok()
                .filter(|value| !value.is_empty())
            {
                Some(url) => (url, "DIRECT_DATABASE_URL"),
                None => return Ok(None),
            }
        }
        None => return Ok(None),
    };
    let url = text
        .parse()
        .with_context(|| format!("invalid database URL in {origin}"))?;
    Ok(Some(url))
}

/// Refuses a URL served by a transaction- or statement-mode pooler. Two signs, either enough: the
/// backend pid changes between two statements of one connection (a pooler handing out several
/// server connections), or a second connection is served by the first one's backend while the
/// first is still open (a pooler reusing the idle server connection, as PgBouncer does); neither
/// can happen on a direct connection.
/// `application` is the name the checking connections show in `pg_stat_activity`, with
/// ` (pooler check)` added.
pub fn refuse_transaction_pooling(url: &DatabaseUrl, application: &str) -> Result<()> {
    let application = format!("{application} (pooler check)");
    let mut first = url.connect(&application)?;
    let before = backend_pid(&mut first)?;
    let mut second = url.connect(&application)?;
    let other = backend_pid(&mut second)?;
    let after = backend_pid(&mut first)?;
    if before != after || other == before {
        anyhow::bail!(
            "{url} is served through a connection pooler in transaction or statement mode (one \
             session was served by backends {before} and {after}, another by {other}): the \
             migration lock and CREATE INDEX CONCURRENTLY need a session of their own; give the \
             database's direct address with --direct-url or DIRECT_DATABASE_URL (the application \
             keeps the pooled URL)"
        );
    }
    Ok(())
}

fn backend_pid(client: &mut Client) -> Result<i32> {
    Ok(client
        .query_one("SELECT pg_backend_pid()", &[])
        .context("asking the server for its backend pid")?
        .get(0))
}
