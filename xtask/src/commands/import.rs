//! `cargo xtask import --from diesel|sqlx|golang-migrate SRC`: another tool's migrations folder
//! in this layout, in the source tool's own order, numbered V0001.., names and no-transaction
//! settings kept, documentation headers left for the author to fill.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use migrations::model::label;

use crate::flags::{ImportArgs, ImportSource};
use crate::plumbing::project;

/// One migration as the source tool has it.
#[derive(Debug)]
struct Imported {
    /// The source tool's version, which orders them (diesel's timestamp, sqlx's number).
    source_version: String,
    name: String,
    up: String,
    down: String,
    no_transaction: bool,
    origin: String,
}

pub fn run(args: &ImportArgs) -> Result<()> {
    let source = &args.source;
    if !source.is_dir() {
        anyhow::bail!("{} is not a folder", source.display());
    }
    let mut imported = match args.source_tool {
        ImportSource::Diesel => read_diesel(source)?,
        ImportSource::Sqlx => read_paired_files(source, "sqlx")?,
        ImportSource::GolangMigrate => read_paired_files(source, "golang-migrate")?,
    };
    if imported.is_empty() {
        anyhow::bail!("{} holds no migrations", source.display());
    }
    // Numeric versions compare as numbers (golang-migrate's 2 before 10), diesel's as text.
    imported.sort_by_key(|migration| version_key(&migration.source_version));
    let into = project::migrations_dir(args.into.as_deref());
    refuse_a_folder_with_migrations(&into)?;
    std::fs::create_dir_all(&into).with_context(|| format!("cannot create {}", into.display()))?;
    for (index, migration) in imported.iter().enumerate() {
        let version = i32::try_from(index + 1).context("too many migrations")?;
        let stem = label(version, &migration.name);
        let directive = if migration.no_transaction {
            "-- xtask: no-transaction\n"
        } else {
            ""
        };
        let up = format!(
            "-- Imported from {}: fill in the documentation below.\n\
             -- Purpose: <why this change exists>\n\
             -- Risk: <safe, risky or multi-step, and why>\n\
             -- Rollback: <what {stem}.down.sql does>\n\
             -- Performance: <rows touched, expected duration>\n{directive}\n{}",
            migration.origin, migration.up
        );
        let down = format!("{directive}{}", migration.down);
        project::create_new_file(&into.join(format!("{stem}.sql")), &up)?;
        project::create_new_file(&into.join(format!("{stem}.down.sql")), &down)?;
        println!("{stem:<40} <- {}", migration.origin);
    }
    println!(
        "imported {} migrations into {}; fill in their documentation headers, then run `cargo xtask lint`",
        imported.len(),
        into.display()
    );
    Ok(())
}

fn version_key(version: &str) -> (u8, u128, String) {
    match version.parse::<u128>() {
        Ok(number) => (0, number, String::new()),
        Err(_) => (1, 0, version.to_owned()),
    }
}

fn refuse_a_folder_with_migrations(into: &Path) -> Result<()> {
    let existing = std::fs::read_dir(into)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|entry| entry.file_name().to_string_lossy().ends_with(".sql"))
        })
        .unwrap_or(false);
    if existing {
        anyhow::bail!(
            "{} already holds migrations; import into an empty folder (--into DIR) and merge by hand",
            into.display()
        );
    }
    Ok(())
}

/// diesel: `VERSION_name/up.sql`, `down.sql`, optional `metadata.toml` with `run_in_transaction`.
fn read_diesel(source: &Path) -> Result<Vec<Imported>> {
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut migrations = Vec::new();
    for entry in sorted_entries(source)? {
        if !entry.is_dir() {
            continue;
        }
        let folder = file_name(&entry);
        let (version, name) = folder
            .split_once('_')
            .with_context(|| format!("{}: expected VERSION_name", entry.display()))?;
        refuse_duplicate(&mut seen, version, &entry)?;
        let up_path = entry.join("up.sql");
        let down_path = entry.join("down.sql");
        if !down_path.is_file() {
            anyhow::bail!(
                "{} has no down.sql; every migration here needs a rollback",
                entry.display()
            );
        }
        let metadata = entry.join("metadata.toml");
        let no_transaction = metadata.is_file()
            && read(&metadata)?.lines().any(|line| {
                line.replace(' ', "")
                    .starts_with("run_in_transaction=false")
            });
        migrations.push(Imported {
            source_version: version.to_owned(),
            name: snake_case(name),
            up: read(&up_path)?,
            down: read(&down_path)?,
            no_transaction,
            origin: format!("diesel {folder}"),
        });
    }
    Ok(migrations)
}

/// sqlx and golang-migrate: `VERSION_name.up.sql` beside `VERSION_name.down.sql`. sqlx marks a
/// migration that must run outside a transaction with `-- no-transaction` as its first line.
fn read_paired_files(source: &Path, tool: &str) -> Result<Vec<Imported>> {
    let mut ups: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    let mut downs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in sorted_entries(source)? {
        let file = file_name(&path);
        let (stem, is_up) = if let Some(stem) = file.strip_suffix(".up.sql") {
            (stem, true)
        } else if let Some(stem) = file.strip_suffix(".down.sql") {
            (stem, false)
        } else if file.ends_with(".sql") {
            anyhow::bail!("{}: a migration without a rollback ({tool} reversible migrations are NAME.up.sql and NAME.down.sql)", path.display());
        } else {
            continue;
        };
        let (version, name) = stem
            .split_once('_')
            .with_context(|| format!("{}: expected VERSION_name", path.display()))?;
        if is_up {
            if let Some((_, first)) = ups.get(version) {
                anyhow::bail!(
                    "{} and {} both have version {version}",
                    first.display(),
                    path.display()
                );
            }
            ups.insert(version.to_owned(), (name.to_owned(), path.clone()));
        } else {
            downs.insert(version.to_owned(), path.clone());
        }
    }
    if let Some((version, path)) = downs
        .iter()
        .find(|(version, _)| !ups.contains_key(*version))
    {
        anyhow::bail!(
            "{}: a rollback without its migration (version {version})",
            path.display()
        );
    }
    let mut migrations = Vec::new();
    for (version, (name, up_path)) in ups {
        let down_path = downs.get(&version).with_context(|| {
            format!(
                "{} has no .down.sql; every migration here needs a rollback",
                up_path.display()
            )
        })?;
        let up = read(&up_path)?;
        let no_transaction = tool == "sqlx"
            && up
                .lines()
                .next()
                .is_some_and(|line| line.trim() == "-- no-transaction");
        migrations.push(Imported {
            source_version: version.clone(),
            name: snake_case(&name),
            up,
            down: read(down_path)?,
            no_transaction,
            origin: format!("{tool} {}", file_name(&up_path)),
        });
    }
    Ok(migrations)
}

fn refuse_duplicate(
    seen: &mut BTreeMap<String, PathBuf>,
    version: &str,
    path: &Path,
) -> Result<()> {
    if let Some(first) = seen.insert(version.to_owned(), path.to_path_buf()) {
        anyhow::bail!(
            "{} and {} both have version {version}",
            first.display(),
            path.display()
        );
    }
    Ok(())
}

/// `Create-Users` -> `create_users`: the name kept, in the only spelling file names here allow.
fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for character in name.chars() {
        if character.is_ascii_alphanumeric() {
            snake.push(character.to_ascii_lowercase());
        } else if !snake.ends_with('_') && !snake.is_empty() {
            snake.push('_');
        }
    }
    let snake = snake.trim_end_matches('_').to_owned();
    if snake.starts_with(|c: char| c.is_ascii_lowercase()) {
        snake
    } else {
        format!("m_{snake}")
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrations::model::is_snake_case;

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake_case("Create-Users"), "create_users");
        assert_eq!(snake_case("add  index__x"), "add_index_x");
        assert_eq!(snake_case("2fa"), "m_2fa");
        assert!(is_snake_case(&snake_case("Weird Name!")));
    }
}
