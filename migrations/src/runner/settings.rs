//! How scripts are run (timeouts, retries, who runs them), and the one way those timeouts are
//! given to PostgreSQL, for whole scripts and batches alike.

use std::time::Duration;

use crate::history::millis;
use crate::replication::Policy;

/// How scripts are run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `lock_timeout` for every script: traffic must never queue behind a migration waiting for a lock.
    pub lock_timeout: Duration,
    /// `statement_timeout` for every script; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// How often a script that hit `lock_timeout` (or a deadlock) is tried again.
    pub lock_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Who runs this, recorded in the state table (`user@host`).
    pub applied_by: String,
    /// How far behind standbys may fall before batched data migrations pause between batches.
    pub replicas: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_retries: 3,
            retry_backoff: Duration::from_secs(1),
            applied_by: "xtask".into(),
            replicas: Policy::default(),
        }
    }
}

/// Where the timeouts apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `SET LOCAL`: until the transaction ends.
    Transaction,
    /// `SET`: for the session, until [`RESET_TIMEOUTS`] (a script outside a transaction).
    Session,
}

/// Puts a session's timeouts back: the session outlives the script it ran.
pub(crate) const RESET_TIMEOUTS: &str = "RESET lock_timeout; RESET statement_timeout";

impl Settings {
    /// The `SET` statements that give a script or a batch its `lock_timeout` and
    /// `statement_timeout` (0: no limit).
    pub(crate) fn timeouts_sql(&self, scope: Scope) -> String {
        let set = match scope {
            Scope::Transaction => "SET LOCAL",
            Scope::Session => "SET",
        };
        format!(
            "{set} lock_timeout = {}; {set} statement_timeout = {}",
            millis(self.lock_timeout),
            self.statement_timeout.map_or(0, millis)
        )
    }
}
