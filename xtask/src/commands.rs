//! One module per `cargo xtask` command; `main.rs` reaches each in one hop.

pub mod backfill;
pub mod backup;
pub mod bench;
pub mod check_compat;
pub mod check_migrations;
pub mod deploy_db;
pub mod health_check;
pub mod import;
pub mod lint;
pub mod migrate;
pub mod new;
pub mod repair;
pub mod restore;
pub mod rollback;
pub mod schema;
pub mod status;
pub mod test_rollback_roundtrip;
pub mod verify;
