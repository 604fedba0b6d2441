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
    let (ups, downs) = read_scripts(files, &mut problems);
    let migrations = pair(ups, downs, &mut problems);
    Loaded {
        set: MigrationSet {
            dir: dir.to_path_buf(),
            migrations,
        },
        problems,
    }
}

/// Scripts by version, each with its parsed file name.
type Scripts = BTreeMap<Version, (FileName, Script)>;

/// Each file's script under its version, ups and downs apart. A file whose name or comments
/// cannot be read, or whose version is taken already, is a problem instead.
fn read_scripts(files: Vec<(PathBuf, String)>, problems: &mut Vec<Problem>) -> (Scripts, Scripts) {
    let mut ups = Scripts::new();
    let mut downs = Scripts::new();
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
    (ups, downs)
}

/// An up and a down of the same version and name make a migration; every script left alone is
/// a problem.
fn pair(ups: Scripts, mut downs: Scripts, problems: &mut Vec<Problem>) -> Vec<Migration> {
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
    migrations
}

#[cfg(test)]
mod tests;
