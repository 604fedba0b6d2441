//! The embedded migrations (backend) and the folder on disk (xtask) are the same model.

use std::path::Path;

#[test]
fn embedded_and_disk_sets_agree() {
    let disk = migrations::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"))
        .expect("the project's migrations folder is valid");
    let embedded = migrations::embedded().expect("the embedded migrations are valid");
    let summary = |set: &migrations::MigrationSet| -> Vec<_> {
        set.migrations
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.name.clone(),
                    m.checksum,
                    m.down.sql.clone(),
                    m.up.directives.clone(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&disk), summary(&embedded));
    assert_eq!(migrations::embedded_head(), disk.head());
}

#[test]
fn every_project_migration_is_documented() {
    let disk = migrations::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")).unwrap();
    for migration in &disk.migrations {
        for field in migrations::model::Documentation::FIELDS {
            assert!(
                migration.up.documentation.field(field).is_some(),
                "{} lacks `-- {field}:`",
                migration.up.file_name()
            );
        }
    }
}
