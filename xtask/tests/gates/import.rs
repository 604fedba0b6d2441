//! `import` keeps the order, the names and the transaction settings of what it imports.

use std::path::Path;

use tempfile::TempDir;

use crate::support::{Fixture, Run};

#[test]
fn import_keeps_order_names_and_transaction_settings() {
    let fixture = Fixture::new();
    diesel_keeps_order_names_and_settings(&fixture);
    golang_migrate_orders_by_number(&fixture);
    let sqlx_source = sqlx_keeps_no_transaction(&fixture);
    refusals_name_the_files_at_fault(&fixture, sqlx_source.path());
}

/// `cargo xtask import --from FORMAT SOURCE --into INTO`.
fn import(fixture: &Fixture, format: &str, source: &Path, into: &Path) -> Run {
    fixture.xtask(&[
        "import",
        "--from",
        format,
        source.to_str().unwrap(),
        "--into",
        into.to_str().unwrap(),
    ])
}

/// Diesel folders, out of order and oddly named, one without a transaction.
fn diesel_source() -> TempDir {
    let source = tempfile::tempdir().unwrap();
    let diesel = |folder: &str, up: &str, metadata: Option<&str>| {
        let dir = source.path().join(folder);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("up.sql"), up).unwrap();
        std::fs::write(dir.join("down.sql"), "SELECT 1;\n").unwrap();
        if let Some(metadata) = metadata {
            std::fs::write(dir.join("metadata.toml"), metadata).unwrap();
        }
    };
    diesel(
        "2024-03-01-120000_create_users",
        "CREATE TABLE users (id int PRIMARY KEY);\n",
        None,
    );
    diesel(
        "2023-12-31-235959_Initial-Setup",
        "CREATE TABLE setup (id int);\n",
        None,
    );
    diesel(
        "2024-03-02-080000_index_users",
        "CREATE INDEX CONCURRENTLY users_id_idx ON users (id);\n",
        Some("run_in_transaction = false\n"),
    );
    source
}

/// Diesel's migrations become numbered files in date order, names in snake case, the
/// no-transaction one marked; a folder that already holds migrations is refused.
fn diesel_keeps_order_names_and_settings(fixture: &Fixture) {
    let source = diesel_source();
    let into = fixture.dir();
    let run = import(fixture, "diesel", source.path(), &into);
    run.assert_ok();
    let files: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(&into)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        files,
        vec![
            "V0001__initial_setup.down.sql",
            "V0001__initial_setup.sql",
            "V0002__create_users.down.sql",
            "V0002__create_users.sql",
            "V0003__index_users.down.sql",
            "V0003__index_users.sql",
        ]
    );
    let index = std::fs::read_to_string(into.join("V0003__index_users.sql")).unwrap();
    assert!(
        index.contains("-- xtask: no-transaction") && index.contains("-- Purpose: <"),
        "{index}"
    );
    fixture.xtask(&["migrate"]).assert_ok();
    import(fixture, "diesel", source.path(), &into)
        .assert_user_error(&["already holds migrations"]);
}

/// golang-migrate orders by number, not by text.
fn golang_migrate_orders_by_number(fixture: &Fixture) {
    let source = tempfile::tempdir().unwrap();
    for (file, text) in [
        ("10_later.up.sql", "SELECT 10;"),
        ("10_later.down.sql", "SELECT 1;"),
        ("2_earlier.up.sql", "SELECT 2;"),
        ("2_earlier.down.sql", "SELECT 1;"),
    ] {
        std::fs::write(source.path().join(file), text).unwrap();
    }
    let into = fixture.work.path().join("golang");
    import(fixture, "golang-migrate", source.path(), &into).assert_ok();
    assert!(into.join("V0001__earlier.sql").is_file() && into.join("V0002__later.sql").is_file());
}

/// sqlx keeps `-- no-transaction`, in both directions. Returns its source for the refusals.
fn sqlx_keeps_no_transaction(fixture: &Fixture) -> TempDir {
    let source = tempfile::tempdir().unwrap();
    std::fs::write(
        source.path().join("20240101000000_idx.up.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
    )
    .unwrap();
    std::fs::write(
        source.path().join("20240101000000_idx.down.sql"),
        "DROP INDEX CONCURRENTLY i;",
    )
    .unwrap();
    let into = fixture.work.path().join("sqlx");
    import(fixture, "sqlx", source.path(), &into).assert_ok();
    let up = std::fs::read_to_string(into.join("V0001__idx.sql")).unwrap();
    let down = std::fs::read_to_string(into.join("V0001__idx.down.sql")).unwrap();
    assert!(up.contains("-- xtask: no-transaction") && down.contains("-- xtask: no-transaction"));
    source
}

/// Refusals name the files at fault: two files of one version, an up without its down.
fn refusals_name_the_files_at_fault(fixture: &Fixture, sqlx_source: &Path) {
    std::fs::write(sqlx_source.join("20240101000000_again.up.sql"), "SELECT 1;").unwrap();
    import(fixture, "sqlx", sqlx_source, &fixture.work.path().join("a"))
        .assert_user_error(&["both have version 20240101000000"]);
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("1_lonely.up.sql"), "SELECT 1;").unwrap();
    import(
        fixture,
        "golang-migrate",
        source.path(),
        &fixture.work.path().join("b"),
    )
    .assert_user_error(&["1_lonely.up.sql has no .down.sql"]);
}
