//! Where migrations come from: a folder on disk (xtask) or the files embedded at build time (backend).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{
    file_name, parse_comments, parse_file_name, Direction, FileName, Migration, Script, Version,
};

/// Every migration of a folder, ordered by version, each with its rollback.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub dir: PathBuf,
    pub migrations: Vec<Migration>,
}

impl MigrationSet {
    pub fn get(&self, version: Version) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, |migration| migration.version)
            .ok()
            .map(|index| &self.migrations[index])
    }

    pub fn head(&self) -> Option<Version> {
        self.migrations.last().map(|migration| migration.version)
    }

    /// The version a new migration gets: one past the highest on disk.
    pub fn next_version(&self) -> Version {
        self.head().unwrap_or(0) + 1
    }
}

/// One thing wrong with a migrations folder. All of them are reported together, so a user fixes
/// the folder in one pass instead of one error per run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read migrations folder {}: {message}", dir.display())]
    UnreadableDir { dir: PathBuf, message: String },
    #[error("{}: not a migration file name: {reason}", path.display())]
    BadFileName { path: PathBuf, reason: String },
    #[error("{}: cannot read: {message}", path.display())]
    UnreadableFile { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    BadComment {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{} and {} both have version {version}; renumber one of them", first.display(), path.display())]
    DuplicateVersion {
        version: Version,
        first: PathBuf,
        path: PathBuf,
    },
    #[error("{}: no rollback; create {} beside it", path.display(), expected.display())]
    MissingDown { path: PathBuf, expected: PathBuf },
    #[error("{}: rollback without a migration; {} does not exist", path.display(), expected.display())]
    DownWithoutUp { path: PathBuf, expected: PathBuf },
}

impl Problem {
    /// The file at fault (the folder itself for [`Problem::UnreadableDir`]).
    pub fn path(&self) -> &Path {
        match self {
            Problem::UnreadableDir { dir, .. } => dir,
            Problem::BadFileName { path, .. }
            | Problem::UnreadableFile { path, .. }
            | Problem::BadComment { path, .. }
            | Problem::DuplicateVersion { path, .. }
            | Problem::MissingDown { path, .. }
            | Problem::DownWithoutUp { path, .. } => path,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Problem::BadComment { line, .. } => *line,
            _ => 1,
        }
    }
}

/// A folder that cannot be used as it is, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for LoadError {}

/// A folder read as far as it can be: the migrations that are whole, and what is wrong with the rest.
/// The linter reports the problems as findings; everything that runs SQL refuses them.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub set: MigrationSet,
    pub problems: Vec<Problem>,
}

impl Loaded {
    pub fn into_result(self) -> Result<MigrationSet, LoadError> {
        if self.problems.is_empty() {
            Ok(self.set)
        } else {
            Err(LoadError {
                problems: self.problems,
            })
        }
    }
}

/// Loads a folder, refusing it whole if anything in it is wrong.
pub fn load_dir(dir: &Path) -> Result<MigrationSet, LoadError> {
    read_dir(dir).into_result()
}

/// Reads every file under `dir` (recursively, as refinery embeds them), keeping what is valid.
pub fn read_dir(dir: &Path) -> Loaded {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                problems.push(Problem::UnreadableDir {
                    dir: error.path().unwrap_or(dir).to_path_buf(),
                    message: error
                        .io_error()
                        .map_or_else(|| error.to_string(), ToString::to_string),
                });
                continue;
            }
        };
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !entry.file_type().is_file() || hidden {
            continue;
        }
        let path = entry.into_path();
        match std::fs::read_to_string(&path) {
            Ok(sql) => files.push((path, sql)),
            Err(error) => problems.push(Problem::UnreadableFile {
                path,
                message: error.to_string(),
            }),
        }
    }
    let mut loaded = assemble(dir, files);
    problems.append(&mut loaded.problems);
    loaded.problems = problems;
    loaded
}

/// Pairs up and down files into migrations.
pub(crate) fn assemble(dir: &Path, files: Vec<(PathBuf, String)>) -> Loaded {
    let mut problems = Vec::new();
    let mut ups: BTreeMap<Version, (FileName, Script)> = BTreeMap::new();
    let mut downs: BTreeMap<Version, (FileName, Script)> = BTreeMap::new();
    for (path, sql) in files {
        let parsed = match parse_file_name(&file_name(&path)) {
            Ok(parsed) => parsed,
            Err(reason) => {
                problems.push(Problem::BadFileName { path, reason });
                continue;
            }
        };
        let (directives, documentation) = match parse_comments(&sql) {
            Ok(comments) => comments,
            Err(error) => {
                problems.push(Problem::BadComment {
                    path,
                    line: error.line,
                    message: error.message,
                });
                continue;
            }
        };
        let side = match parsed.direction {
            Direction::Up => &mut ups,
            Direction::Down => &mut downs,
        };
        if let Some((_, first)) = side.get(&parsed.version) {
            problems.push(Problem::DuplicateVersion {
                version: parsed.version,
                first: first.path.clone(),
                path,
            });
            continue;
        }
        let script = Script {
            path,
            sql,
            directives,
            documentation,
        };
        side.insert(parsed.version, (parsed, script));
    }

    let mut migrations = Vec::new();
    let mut downs_without_up = Vec::new();
    for (version, (parsed, up)) in ups {
        match downs.remove(&version) {
            Some((down_name, down)) if down_name.name == parsed.name => {
                migrations.push(Migration::new(version, parsed.name, up, down))
            }
            unpaired => {
                if let Some(down) = unpaired {
                    downs_without_up.push(down);
                }
                let expected = up
                    .path
                    .with_file_name(format!("V{version:04}__{}.down.sql", parsed.name));
                problems.push(Problem::MissingDown {
                    path: up.path,
                    expected,
                });
            }
        }
    }
    downs_without_up.extend(downs.into_values());
    for (parsed, down) in downs_without_up {
        let version = parsed.version;
        let expected = down
            .path
            .with_file_name(format!("V{version:04}__{}.sql", parsed.name));
        problems.push(Problem::DownWithoutUp {
            path: down.path,
            expected,
        });
    }
    Loaded {
        set: MigrationSet {
            dir: dir.to_path_buf(),
            migrations,
        },
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn pairs_files_into_migrations_and_reports_every_problem() {
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
}
