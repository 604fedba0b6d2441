//! `traced-blocking-work`: found by `lint --trace`, not by a rule: PostgreSQL, running the
//! migration on generated rows, rewrote, scanned or indexed a table that existed before the
//! migration while holding a lock that blocks the application's writes (or reads), or a data
//! change read a whole table or changed many of its rows.
//!
//! Why it matters: the lock is held for as long as the work takes, which grows with the table. On
//! a production-sized table every request that writes it (or, under ACCESS EXCLUSIVE, reads it)
//! waits: an outage for the length of the rewrite. This finding exists because no rule knew the
//! form: the trace measures what the statement does, whatever its spelling.
//!
//! Safe way: the form that avoids the work (`CREATE INDEX CONCURRENTLY`, constraints `NOT VALID`
//! then `VALIDATE`, a new column with a batched backfill, a batched data migration), or a
//! maintenance window: `-- xtask: maintenance-window`, or `-- xtask: allow traced-blocking-work --
//! why` when the table is known to stay small.

use crate::linter::finding::Severity;
use crate::linter::rule::{Check, Class, Spec, TraceRole};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Runner,
    trace: TraceRole::Lock,
};
