//! One migration runner per database at a time.
//!
//! A session-level advisory lock on a connection of its own that stays idle: a lock held inside a
//! transaction would make `CREATE INDEX CONCURRENTLY` wait for that transaction, that is for
//! ourselves, forever. Polling `pg_try_advisory_lock` (instead of blocking in `pg_advisory_lock`)
//! lets a waiting runner give up on time and say who holds the lock.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::database::{ConnectError, DatabaseUrl};

/// The advisory lock key: "bomizzel" in ASCII. Advisory locks are per database, so one key serves all.
pub const LOCK_KEY: i64 = 0x626f_6d69_7a7a_656c;

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The session holding the lock, from `pg_locks` and `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub application: String,
    pub client: String,
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let application = if self.application.is_empty() {
            "no application_name"
        } else {
            &self.application
        };
        write!(
            f,
            "pid {} ({application}, from {}), holding it since {}",
            self.pid, self.client, self.since
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("another migration runner holds the migration lock on database \"{database}\": {}; gave up after waiting {waited:?}", holder.as_ref().map_or_else(|| "it has just released it".to_owned(), ToString::to_string))]
    Busy {
        database: String,
        holder: Option<Holder>,
        waited: Duration,
    },
    #[error("taking the migration lock on database \"{database}\": {message}")]
    Query { database: String, message: String },
}

/// Held for as long as this value lives; released when it is dropped (or the process dies).
pub struct MigrationLock {
    client: Client,
}

impl MigrationLock {
    /// Takes the lock, waiting up to `wait`. `on_wait` is told once who holds it, if anyone does.
    pub fn acquire(
        url: &DatabaseUrl,
        application: &str,
        wait: Duration,
        mut on_wait: impl FnMut(&Holder),
    ) -> Result<MigrationLock, LockError> {
        let database = url.database().to_owned();
        let query_error = |error: postgres::Error| LockError::Query {
            database: database.clone(),
            message: error.to_string(),
        };
        let mut client = url.connect(&format!("{application} (migration lock)"))?;
        let started = Instant::now();
        let mut told = false;
        loop {
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
                .map_err(query_error)?
                .get(0);
            if taken {
                return Ok(MigrationLock { client });
            }
            let holder = holder(&mut client).map_err(query_error)?;
            if started.elapsed() >= wait {
                return Err(LockError::Busy {
                    database,
                    holder,
                    waited: wait,
                });
            }
            if let (Some(holder), false) = (&holder, told) {
                on_wait(holder);
                told = true;
            }
            std::thread::sleep(POLL_INTERVAL.min(wait.saturating_sub(started.elapsed())));
        }
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        // Closing the session releases it anyway; unlocking first frees it without waiting for
        // the server to notice the closed socket.
        let _ = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    }
}

/// Who holds the lock in this database now, if anyone.
pub fn holder(client: &mut Client) -> Result<Option<Holder>, postgres::Error> {
    let key = LOCK_KEY as u64;
    let (high, low) = ((key >> 32) as u32, (key & 0xffff_ffff) as u32);
    let row = client.query_opt(
        "SELECT a.pid, coalesce(a.application_name, ''),
                coalesce(host(a.client_addr), 'local socket'),
                to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid::text::bigint = $1 AND l.objid::text::bigint = $2 AND l.objsubid = 1
         LIMIT 1",
        &[&i64::from(high), &i64::from(low)],
    )?;
    Ok(row.map(|row| Holder {
        pid: row.get(0),
        application: row.get(1),
        client: row.get(2),
        since: row.get(3),
    }))
}
