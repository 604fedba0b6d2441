//! The backend's queries as the linter reads them: parameters placed in their columns, and
//! what each query reads, writes and calls.

use super::test_support::application;
use super::*;

fn known(table: &str, column: &str) -> bool {
    matches!(
        (table, column),
        ("tickets", "title" | "id") | ("queue_agents", "user_id")
    )
}

#[test]
fn places_parameters_in_the_columns_they_feed() {
    let placed = |sql: &str| -> Vec<(i32, String)> {
        parameter_columns(sql)
            .into_iter()
            .map(|(number, place)| {
                let usage = match place.usage {
                    ParameterUse::Written => "<-",
                    ParameterUse::Compared => "=",
                };
                (number, format!("{}.{} {usage}", place.table, place.column))
            })
            .collect()
    };
    assert_eq!(
        placed("INSERT INTO users (email, role) VALUES ($1, $2::text) RETURNING id"),
        vec![(1, "users.email <-".into()), (2, "users.role <-".into())]
    );
    assert_eq!(
        placed("UPDATE tickets t SET status = $2 WHERE t.id = $1 AND $3 = assignee_id"),
        vec![
            (1, "tickets.id =".into()),
            (2, "tickets.status <-".into()),
            (3, "tickets.assignee_id =".into())
        ]
    );
    assert_eq!(
        placed("SELECT 1 FROM a JOIN b ON b.a_id = a.id WHERE name = $1 AND b.x = $2"),
        vec![(2, "b.x =".into())],
        "an unqualified column among two tables is not placed"
    );
}

#[test]
fn resolves_aliases_and_unqualified_columns() {
    let app = application(&[
        "SELECT t.id, title, user_id FROM tickets t\n JOIN queue_agents qa ON qa.queue_id = t.queue_id",
    ]);
    let query = &app.queries()[0];
    assert_eq!(
        query.first_line,
        "SELECT t.id, title, user_id FROM tickets t ..."
    );
    assert_eq!(query.relation("tickets"), Some(Access::Reads));
    assert_eq!(query.column("tickets", "title", known), Some(Access::Reads));
    assert_eq!(
        query.column("queue_agents", "queue_id", known),
        Some(Access::Reads)
    );
    // The catalog places `user_id` on queue_agents only; `title` is not queue_agents'.
    assert_eq!(query.column("tickets", "user_id", known), None);
    assert_eq!(query.column("queue_agents", "title", known), None);
    // Unknown to the catalog: every table of the query may have it.
    let unknown = |_: &str, _: &str| false;
    assert_eq!(
        query.column("queue_agents", "title", unknown),
        Some(Access::Reads)
    );
    assert_eq!(query.column("users", "title", unknown), None);
}

#[test]
fn reads_writes_stars_functions_and_ctes() {
    let app = application(&[
        "INSERT INTO tickets (title, queue_id) VALUES ($1, lower($2)) RETURNING id",
        "WITH recent AS (SELECT * FROM comments) UPDATE tickets SET status = 'x' FROM recent r WHERE r.ticket_id = tickets.id",
        "INSERT INTO users VALUES ($1)",
    ]);
    let [insert, update, bare] = app.queries() else {
        panic!("three queries")
    };
    assert_eq!(insert.relation("tickets"), Some(Access::Writes));
    assert_eq!(
        insert.column("tickets", "title", known),
        Some(Access::Writes)
    );
    assert_eq!(insert.column("tickets", "id", known), Some(Access::Reads));
    assert!(insert.calls("lower"));
    assert!(insert.inserts_without("tickets", "status"));
    assert!(!insert.inserts_without("tickets", "title"));
    assert_eq!(update.relation("recent"), None);
    assert_eq!(update.relation("comments"), Some(Access::Reads));
    assert_eq!(
        update.column("comments", "body", known),
        Some(Access::Reads)
    );
    assert_eq!(
        update.column("tickets", "status", known),
        Some(Access::Writes)
    );
    assert!(!bare.inserts_without("users", "email"));
    assert_eq!(bare.column("users", "email", known), Some(Access::Writes));
}

#[test]
fn finds_the_nearest_sqlx_folder_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations/sql");
    std::fs::create_dir_all(&migrations).unwrap();
    assert!(Application::find(&migrations).is_none());
    std::fs::create_dir(dir.path().join(".sqlx")).unwrap();
    std::fs::write(
        dir.path().join(".sqlx/query-1.json"),
        r#"{"query": "SELECT title FROM tickets", "describe": {"columns": []}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join(".sqlx/query-2.json"), "not json").unwrap();
    let app = Application::find(&migrations).expect("the .sqlx two folders up");
    assert_eq!(app.queries().len(), 1);
    assert_eq!(app.queries()[0].file, ".sqlx/query-1.json");
}
