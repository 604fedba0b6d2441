//! A restore onto a server that lacks the backup's roles.

use migrations::DatabaseUrl;

use super::{isolated, Cluster};
use crate::support::{run, Fixture};

/// A database on the test server whose table belongs to a role only that server has.
struct OwnedSource {
    fixture: Fixture,
    owner: String,
}

impl Drop for OwnedSource {
    fn drop(&mut self) {
        let mut client = self.fixture.client();
        let _ = client.batch_execute(&format!(
            "DROP TABLE IF EXISTS things; DROP ROLE IF EXISTS {}",
            self.owner
        ));
    }
}

#[test]
fn restore_onto_a_server_that_lacks_the_backups_roles() {
    let fixture = Fixture::new();
    let owner = format!("{}_owner", fixture.db.name());
    let source = OwnedSource { fixture, owner };
    let fixture = &source.fixture;
    fixture
        .client()
        .batch_execute(&format!(
            "CREATE ROLE {owner} NOLOGIN;
             CREATE TABLE things (id int PRIMARY KEY, name text);
             INSERT INTO things SELECT g, 'thing ' || g FROM generate_series(1, 25) g;
             ALTER TABLE things OWNER TO {owner}",
            owner = source.owner
        ))
        .unwrap();
    let backups = fixture.work.path().join("backups");
    let mut command = isolated(fixture, &["backup", "--out"]);
    command
        .arg(&backups)
        .env("DATABASE_URL", fixture.db.url().secret_conninfo());
    run(command).assert_ok();
    let archive = std::fs::read_dir(&backups)
        .unwrap()
        .next()
        .expect("a backup")
        .unwrap()
        .path();
    let archive = archive.to_str().unwrap();

    let cluster = Cluster::start();
    let target = cluster.admin().with_database("restored");
    let restore = |args: &[&str], url: &DatabaseUrl| {
        let mut command = isolated(fixture, &[&["restore", archive], args].concat());
        command.env("DATABASE_URL", url.secret_conninfo());
        run(command)
    };
    let owner_and_rows = |url: &DatabaseUrl| -> (String, i64) {
        let row = url
            .connect("bomizzel-test")
            .unwrap()
            .query_one(
                "SELECT (SELECT tableowner::text FROM pg_tables WHERE tablename = 'things'),
                        (SELECT count(*) FROM things)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };

    // As it was: the owner does not exist there, and nothing is left behind.
    let refused = restore(&[], &target);
    refused.assert_user_error(&[
        &format!("role \"{}\" does not exist", source.owner),
        "restore with --no-owner",
        "database \"restored\", created for it, was dropped",
    ]);
    assert!(matches!(
        target.connect("bomizzel-test"),
        Err(migrations::ConnectError::NoSuchDatabase { .. })
    ));

    restore(&["--no-owner"], &target).assert_ok();
    assert_eq!(owner_and_rows(&target), ("postgres".to_owned(), 25));

    let mut admin = cluster.admin().connect("bomizzel-test").unwrap();
    admin
        .batch_execute("CREATE ROLE app_owner NOLOGIN")
        .unwrap();
    let other = cluster.admin().with_database("restored_as_role");
    restore(&["--no-owner", "--role", "app_owner"], &other).assert_ok();
    assert_eq!(owner_and_rows(&other), ("app_owner".to_owned(), 25));

    restore(
        &["--no-owner", "--role", "nobody_here"],
        &cluster.admin().with_database("x"),
    )
    .assert_user_error(&["role \"nobody_here\" (--role) does not exist on 127.0.0.1:"]);
}
