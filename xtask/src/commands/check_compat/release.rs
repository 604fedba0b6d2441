//! What a release was, read from git: its recorded queries and the versions of its migrations.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use migrations::model::{parse_file_name, Version};
use migrations::Direction;
use xshell::{cmd, Shell};

use crate::plumbing::project;
use crate::plumbing::sqlx_data::RecordedQuery;

/// The backend's recorded queries (`.sqlx/*.json`) at `git_ref`.
pub(super) fn recorded_queries(repo: &Path, git_ref: &str) -> Result<Vec<RecordedQuery>> {
    let sh = Shell::new()?;
    sh.change_dir(repo);
    let mut queries = Vec::new();
    for file in files_at(&sh, git_ref, ".sqlx/")?
        .iter()
        .filter(|file| file.ends_with(".json"))
    {
        let spec = format!("{git_ref}:{file}");
        let text = cmd!(sh, "git show {spec}")
            .quiet()
            .read()
            .with_context(|| format!("cannot read {spec}"))?;
        queries.push(RecordedQuery::parse(&text, spec)?);
    }
    Ok(queries)
}

/// The versions of the migrations `git_ref` had: the schema its queries were written for.
pub(super) fn released_versions(repo: &Path, git_ref: &str) -> Result<BTreeSet<Version>> {
    let sh = Shell::new()?;
    sh.change_dir(repo);
    let folder = format!("{}/", project::MIGRATIONS_DIR);
    let versions: BTreeSet<Version> = files_at(&sh, git_ref, &folder)?
        .iter()
        .filter_map(|path| parse_file_name(path.rsplit('/').next()?).ok())
        .filter(|name| name.direction == Direction::Up)
        .map(|name| name.version)
        .collect();
    if versions.is_empty() {
        anyhow::bail!(
            "{git_ref} has no migrations in {folder}: the schema its queries ran on is unknown"
        );
    }
    Ok(versions)
}

/// The paths of the files in `folder` at `git_ref`.
fn files_at(sh: &Shell, git_ref: &str, folder: &str) -> Result<Vec<String>> {
    let listing = cmd!(sh, "git ls-tree --name-only {git_ref} {folder}")
        .quiet()
        .read()
        .with_context(|| {
            format!(
                "cannot list {folder} at {git_ref} in {}",
                sh.current_dir().display()
            )
        })?;
    Ok(listing.lines().map(str::to_owned).collect())
}
