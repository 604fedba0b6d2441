//! Where things are in this workspace, independent of the directory cargo was run from, and the
//! next free version in a migrations folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use migrations::model::parse_file_name;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where the migrations live in the repository.
pub const MIGRATIONS_DIR: &str = "migrations/sql";

/// The migrations folder: the one given, else `migrations/sql` of this workspace.
pub fn migrations_dir(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| shorten(&root().join(MIGRATIONS_DIR)), Path::to_path_buf)
}

/// Default output locations live under `target/xtask`.
pub fn target_dir() -> PathBuf {
    shorten(&root().join("target/xtask"))
}

/// `migrations/sql/V0001__x.sql` rather than `/home/.../migrations/sql/V0001__x.sql` when run
/// from the workspace: messages stay short and clickable.
fn shorten(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// The committed schema snapshot: the one given, else `schema.snapshot` beside the migrations folder.
pub fn snapshot_path(migrations_dir: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || {
            migrations_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join("schema.snapshot")
        },
        Path::to_path_buf,
    )
}

/// Writes a new file, refusing to overwrite one that exists (even one created a moment ago by
/// another process: `create_new` is atomic).
pub fn create_new_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it is never overwritten)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One past the highest version of any migration-named file, valid or not, so a new file never
/// collides with one the user is still fixing.
pub fn next_version(dir: &Path) -> Result<i32> {
    let mut highest = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        if let Ok(parsed) = parse_file_name(&entry.file_name().to_string_lossy()) {
            highest = highest.max(parsed.version);
        }
    }
    highest
        .checked_add(1)
        .context("no version number is left above the highest migration")
}
