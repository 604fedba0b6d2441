//! `cargo xtask schema dump [--check]`: the committed snapshot of the schema at the head migration.

use std::path::Path;

use anyhow::{Context, Result};
use migrations::schema::{Scope, Snapshot};
use migrations::MigrationSet;

use crate::flags::{SchemaArgs, SchemaCommand};
use crate::plumbing::{project, target_database};

pub fn run(args: &SchemaArgs) -> Result<()> {
    let SchemaCommand::Dump {
        server,
        snapshot,
        check,
    } = &args.command;
    let set = target_database::load(server.dir.as_deref())?;
    let path = project::snapshot_path(&set.dir, snapshot.as_deref());
    let server = target_database::server(server.scratch.database_url.as_deref())?;
    let expected = head_snapshot_text(&server, &set)?;
    if *check {
        let differences = differences_from_file(&path, &expected)?;
        if !differences.is_empty() {
            anyhow::bail!(
                "{} is out of date; run `cargo xtask schema dump` and commit it:\n  {}",
                path.display(),
                differences.join("\n  ")
            );
        }
        println!("{} is up to date", path.display());
        return Ok(());
    }
    std::fs::write(&path, &expected).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The snapshot file's text for the head of `set`, built on a scratch database.
pub fn head_snapshot_text(server: &migrations::DatabaseUrl, set: &MigrationSet) -> Result<String> {
    let scratch = target_database::migrated_scratch(server, set)?;
    let mut client = scratch.url().connect(target_database::APPLICATION)?;
    let snapshot = Snapshot::read(&mut client, Scope::All).context("reading the schema")?;
    Ok(file_text(set.head().unwrap_or(0), &snapshot))
}

pub fn file_text(version: migrations::Version, snapshot: &Snapshot) -> String {
    format!(
        "# The Bomizzel schema at migration version {version}, read from the catalogs by\n\
         # `cargo xtask schema dump`. Do not edit: change a migration and run it again.\n\n{}",
        snapshot.render()
    )
}

/// Why the committed file differs from `expected` (empty when it does not).
pub fn differences_from_file(path: &Path, expected: &str) -> Result<Vec<String>> {
    let committed = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(vec![format!("{} does not exist", path.display())])
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    if committed == expected {
        return Ok(Vec::new());
    }
    let parse = |text: &str| {
        Snapshot::parse(text)
            .with_context(|| format!("{} is not a schema snapshot", path.display()))
    };
    let differences: Vec<String> = parse(&committed)?
        .diff(&parse(expected)?)
        .iter()
        .map(|difference| format!("{difference} (file -> migrations)"))
        .collect();
    Ok(if differences.is_empty() {
        vec!["the header or layout differs (an older version number?)".to_owned()]
    } else {
        differences
    })
}
