//! The Bomizzel migrations: the SQL files in `sql/`, one model of a migration, and the engine that
//! applies and reverts them against PostgreSQL. The backend embeds the files to know the schema
//! version it needs; the xtask loads them from disk and runs them.

pub mod apply;
pub mod database;
#[cfg(test)]
mod fixtures;
pub mod history;
pub mod libpq;
pub mod lock;
pub mod model;
pub mod plan;
pub mod recovery;
pub mod replication;
pub mod roundtrip;
pub mod runner;
pub mod schema;
pub mod source;
pub mod status;
pub mod tls;
pub mod trace;

pub use database::{ConnectError, DatabaseUrl, ScratchDatabase};
pub use model::{Direction, Migration, Version};
pub use source::{load_dir, LoadError, MigrationSet};
pub use status::{statuses, MigrationStatus, State};

mod refinery_embedded {
    refinery::embed_migrations!("sql");
}

/// Rollback files, embedded by `build.rs` (refinery's macro only takes up files).
const EMBEDDED_DOWNS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_downs.rs"));

/// refinery's runner over the embedded migrations, for code that wants refinery's own API.
pub fn refinery_runner() -> refinery::Runner {
    refinery_embedded::migrations::runner()
}

/// The migrations compiled into this binary, in the same model as [`load_dir`] gives.
pub fn embedded() -> Result<MigrationSet, LoadError> {
    let dir = std::path::Path::new("migrations/sql");
    let runner = refinery_runner();
    let ups = runner.get_migrations().iter().map(|migration| {
        let file = format!(
            "{}.sql",
            model::label(migration.version(), migration.name())
        );
        (
            dir.join(file),
            migration.sql().unwrap_or_default().to_owned(),
        )
    });
    let downs = EMBEDDED_DOWNS
        .iter()
        .map(|(file, sql)| (dir.join(file), (*sql).to_owned()));
    source::assemble(dir, ups.chain(downs).collect()).into_result()
}

/// The newest version compiled into this binary: the schema version this build needs.
pub fn embedded_head() -> Option<Version> {
    refinery_runner()
        .get_migrations()
        .iter()
        .map(refinery::Migration::version)
        .max()
}
