//! What the commands share and none of them is: the database a command talks to, the
//! external PostgreSQL tools, the migration log, the readiness probe, the terminal. Nothing here
//! imports a command.

pub mod change;
pub mod check;
pub mod fleet;
pub mod journal;
pub mod output;
pub mod pg_tools;
pub mod pooler;
pub mod project;
pub mod readiness_probe;
pub mod recovery;
pub mod replica_pair;
pub mod sqlx_data;
pub mod standbys;
pub mod target_database;
pub mod terminal;
pub mod verification;
