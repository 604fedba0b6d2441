//! Unit tests of the folder loader: in-memory files paired into migrations with every problem
//! reported, and a temporary folder read from disk.

use std::path::{Path, PathBuf};

use crate::model::Version;
use crate::source::{assemble, load_dir, Problem};

const UP: &str = "-- Purpose: p\nSELECT 1;\n";
const EXPECTED: &str = "expected V{NNNN}__{snake_case_name}.sql or .down.sql";

fn path(file: &str) -> PathBuf {
    Path::new("sql").join(file)
}

/// The folder's files in the order given, each a real up script unless its text is given.
fn folder(files: &[(&str, Option<&str>)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(file, sql)| (path(file), sql.unwrap_or(UP).to_owned()))
        .collect()
}

/// Name, the folder's files (with their text when not a plain up script), the migrations
/// assembled (version, name), the problems.
type Case = (
    &'static str,
    Vec<(&'static str, Option<&'static str>)>,
    Vec<(Version, &'static str)>,
    Vec<Problem>,
);

/// Assembles each case's folder and compares the migrations and problems with the case's.
fn check(cases: Vec<Case>) {
    for (case, files, migrations, problems) in cases {
        let loaded = assemble(Path::new("sql"), folder(&files));
        let assembled: Vec<_> = loaded
            .set
            .migrations
            .iter()
            .map(|migration| (migration.version, migration.name.as_str()))
            .collect();
        assert_eq!(
            (assembled, loaded.problems),
            (migrations, problems),
            "{case}"
        );
    }
}

/// Files that pair up, in version order.
#[test]
fn pairs_files_into_migrations() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("empty folder", vec![], vec![], vec![]),
        (
            "an up file and its rollback",
            vec![("V0001__a.sql", None), ("V0001__a.down.sql", None)],
            vec![(1, "a")], vec![],
        ),
        (
            "ordered by version, not by the order read",
            vec![("V0010__b.down.sql", None), ("V0010__b.sql", None), ("V0002__a.sql", None), ("V0002__a.down.sql", None)],
            vec![(2, "a"), (10, "b")], vec![],
        ),
        (
            "unpadded versions pair up",
            vec![("V3__a.sql", None), ("V0003__a.down.sql", None)],
            vec![(3, "a")], vec![],
        ),
    ];
    check(cases);
}

/// Names refinery would not read, or would skip.
#[test]
fn reports_file_names_that_are_not_migrations() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (
            "not a migration file name",
            vec![("notes.txt", None), ("V0001__a.sql", None), ("V0001__a.down.sql", None)],
            vec![(1, "a")],
            vec![Problem::BadFileName { path: path("notes.txt"), reason: format!("not a .sql file; {EXPECTED}") }],
        ),
        (
            "a name refinery would skip",
            vec![("V0001__add-x.sql", None)],
            vec![],
            vec![Problem::BadFileName {
                path: path("V0001__add-x.sql"),
                reason: format!("name `add-x` is not snake_case (lower-case letters, digits and single underscores); {EXPECTED}"),
            }],
        ),
    ];
    check(cases);
}

/// Two files of one version and direction: the first is kept.
#[test]
fn reports_duplicate_versions() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (
            "duplicate version: the first is kept",
            vec![("V0001__a.sql", None), ("V0001__a.down.sql", None), ("V0001__b.sql", None)],
            vec![(1, "a")],
            vec![Problem::DuplicateVersion { version: 1, first: path("V0001__a.sql"), path: path("V0001__b.sql") }],
        ),
        (
            "duplicate rollback version",
            vec![("V0001__a.sql", None), ("V0001__a.down.sql", None), ("V1__a.down.sql", None)],
            vec![(1, "a")],
            vec![Problem::DuplicateVersion { version: 1, first: path("V0001__a.down.sql"), path: path("V1__a.down.sql") }],
        ),
    ];
    check(cases);
}

/// An up without its down, a down without its up.
#[test]
fn reports_files_without_their_pair() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (
            "missing rollback",
            vec![("V7__a.sql", None)],
            vec![],
            vec![Problem::MissingDown { path: path("V7__a.sql"), expected: path("V0007__a.down.sql") }],
        ),
        (
            "rollback without its migration",
            vec![("V0002__b.down.sql", None)],
            vec![],
            vec![Problem::DownWithoutUp { path: path("V0002__b.down.sql"), expected: path("V0002__b.sql") }],
        ),
        (
            "rollback named differently: neither pairs",
            vec![("V0001__a.sql", None), ("V0001__b.down.sql", None)],
            vec![],
            vec![
                Problem::MissingDown { path: path("V0001__a.sql"), expected: path("V0001__a.down.sql") },
                Problem::DownWithoutUp { path: path("V0001__b.down.sql"), expected: path("V0001__b.sql") },
            ],
        ),
    ];
    check(cases);
}

/// A directive that cannot be read leaves its file out.
#[test]
fn reports_comments_that_cannot_be_read() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (
            "unknown directive: the file is left out, so its rollback is alone",
            vec![("V0001__a.sql", Some("SELECT 1;\n-- xtask: no-transactoin\n")), ("V0001__a.down.sql", None)],
            vec![],
            vec![
                Problem::BadComment {
                    path: path("V0001__a.sql"),
                    line: 2,
                    message: "unknown directive `no-transactoin`; known: no-transaction, maintenance-window, allow RULE -- reason, batched TABLE KEY, rollback-data-hazard -- reason".into(),
                },
                Problem::DownWithoutUp { path: path("V0001__a.down.sql"), expected: path("V0001__a.sql") },
            ],
        ),
        (
            "allow without a reason",
            vec![("V0001__a.sql", None), ("V0001__a.down.sql", Some("-- xtask: allow drop-table\n"))],
            vec![],
            vec![
                Problem::BadComment {
                    path: path("V0001__a.down.sql"),
                    line: 1,
                    message: "`allow drop-table` needs a reason: `-- xtask: allow drop-table -- why this is acceptable`".into(),
                },
                Problem::MissingDown { path: path("V0001__a.sql"), expected: path("V0001__a.down.sql") },
            ],
        ),
    ];
    check(cases);
}

#[test]
fn scripts_keep_their_directives_and_documentation() {
    let up = "-- Purpose: index the queue\n-- xtask: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);\n";
    let loaded = assemble(
        Path::new("sql"),
        folder(&[
            ("V0004__index_t.sql", Some(up)),
            ("V0004__index_t.down.sql", Some("DROP INDEX i;\n")),
        ]),
    );
    let set = loaded.into_result().expect("a whole folder");
    let migration = set.get(4).expect("version 4 assembled");
    assert!(migration.up.directives.no_transaction);
    assert!(!migration.down.directives.no_transaction);
    assert_eq!(
        migration.up.documentation.field("Purpose"),
        Some("index the queue")
    );
    assert_eq!(migration.down.sql, "DROP INDEX i;\n");
    assert_eq!((set.head(), set.next_version()), (Some(4), 5));
}

#[test]
fn a_folder_with_problems_is_refused_with_all_of_them() {
    let error = assemble(
        Path::new("sql"),
        folder(&[("V1__a.sql", None), ("V2__b.down.sql", None)]),
    )
    .into_result()
    .expect_err("two problems");
    assert_eq!(
        error.to_string(),
        "sql/V1__a.sql: no rollback; create sql/V0001__a.down.sql beside it\n\
         sql/V2__b.down.sql: rollback without a migration; sql/V0002__b.sql does not exist"
    );
}

#[test]
fn reading_a_folder_walks_subfolders_and_skips_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    for (file, sql) in [
        (dir.path().join("V0002__b.sql"), UP),
        (dir.path().join("V0002__b.down.sql"), ""),
        (old.join("V0001__a.sql"), UP),
        (old.join("V0001__a.down.sql"), ""),
        (dir.path().join(".gitkeep"), ""),
    ] {
        std::fs::write(file, sql).unwrap();
    }
    let set = load_dir(dir.path()).expect("a whole folder");
    let versions: Vec<_> = set
        .migrations
        .iter()
        .map(|m| (m.version, m.up.path.clone()))
        .collect();
    assert_eq!(
        versions,
        [
            (1, old.join("V0001__a.sql")),
            (2, dir.path().join("V0002__b.sql"))
        ]
    );

    let missing = dir.path().join("absent");
    let error = load_dir(&missing).expect_err("no such folder");
    assert!(
        matches!(error.problems.as_slice(), [Problem::UnreadableDir { dir, .. }] if *dir == missing),
        "{error:?}"
    );
}
