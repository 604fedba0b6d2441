//! `cargo xtask restore`: the real `pg_restore`, never over data unless told twice
//! (`--drop-existing`, then `--yes` or the database's name typed on a terminal).

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result};
use migrations::database::quote_identifier;
use migrations::{history, statuses, ConnectError, DatabaseUrl};
use xshell::{cmd, Shell};

use crate::flags::RestoreArgs;
use crate::plumbing::journal::{Entry, Journal, Outcome, Subject};
use crate::plumbing::pg_tools::{self, ServerVersion};
use crate::plumbing::target_database;
use crate::plumbing::terminal;

pub fn run(args: &RestoreArgs) -> Result<()> {
    let source = &args.file;
    if !source.exists() {
        anyhow::bail!("backup {} does not exist", source.display());
    }
    let url = target_database::resolve(args.database.urls())?;
    let target = match &args.target_db {
        Some(name) => url.with_database(name),
        None => url.clone(),
    };
    let mut journal = Journal::open(args.log.path.as_deref(), "restore", &target)?;
    let started = Instant::now();
    let outcome = restore(args, &target);
    let result = if outcome.is_ok() {
        Outcome::Restored
    } else {
        Outcome::Failed
    };
    journal.record(&Entry {
        duration: Some(started.elapsed()),
        error: outcome.as_ref().err().map(|error| format!("{error:#}")),
        ..Entry::new(Subject::Restore(source), result)
    })?;
    outcome?;
    println!(
        "restored {} into {target} in {}",
        source.display(),
        pg_tools::seconds(started.elapsed())
    );
    print_status(args, &target)
}

fn restore(args: &RestoreArgs, target: &DatabaseUrl) -> Result<()> {
    let application = format!("{} restore", target_database::APPLICATION);
    let admin_url = target.with_database("postgres");
    if let Some(role) = &args.role {
        check_role_exists(&admin_url, role, &application)?;
    }
    let created = prepare_database(args, target, &admin_url, &application)?;
    let mut client = target.connect(&application)?;
    let server = ServerVersion::query(&mut client)?;
    drop(client);
    let sh = Shell::new()?;
    let pg_restore = pg_tools::find(&sh, "pg_restore", &server)?;
    let program = &pg_restore.path;
    let source = &args.file;
    let mode = pg_restore_mode(args);
    let name = target.database();
    pg_tools::run_tool(
        pg_tools::connect_env(
            cmd!(
                sh,
                "{program} --no-password --exit-on-error {mode...} --dbname {name} {source}"
            ),
            target,
        ),
        &format!("pg_restore of {} into \"{name}\"", source.display()),
    )
    .map_err(|error| {
        let mut text = format!("{error:#}");
        // --role was checked above, so a missing role is one the backup's objects belong to.
        if !args.no_owner && text.contains("role \"") && text.contains("does not exist") {
            text.push_str(
                "; the backup's objects belong to a role this server lacks: restore with \
                 --no-owner (add --role ROLE to choose who owns them)",
            );
        }
        // A failed restore leaves the server as it found it.
        if created && drop_database(&admin_url, name, &application) {
            text.push_str(&format!(
                "; database \"{name}\", created for it, was dropped"
            ));
        }
        anyhow::anyhow!(text)
    })?;
    Ok(())
}

/// Makes the target ready to restore into: refused, or dropped and recreated after
/// confirmation, when it holds tables; created when missing. Returns whether it was created.
fn prepare_database(
    args: &RestoreArgs,
    target: &DatabaseUrl,
    admin_url: &DatabaseUrl,
    application: &str,
) -> Result<bool> {
    match target.connect(application) {
        Ok(mut client) => {
            let tables = pg_tools::user_tables(&mut client)?;
            drop(client);
            if !tables.is_empty() {
                refuse_or_confirm(args, target, &tables)?;
                recreate(admin_url, target, application)?;
            }
            Ok(false)
        }
        Err(ConnectError::NoSuchDatabase { .. }) => {
            let mut admin = admin_url.connect(application)?;
            // Under --role, the restored objects' owner must be able to create in the new
            // database's public schema, which belongs to the database's owner.
            let owner = args
                .role
                .as_deref()
                .map(|role| format!(" OWNER {}", quote_identifier(role)))
                .unwrap_or_default();
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE {}{owner} TEMPLATE template0",
                    quote_identifier(target.database())
                ))
                .with_context(|| {
                    format!(
                        "creating database \"{}\" on {}",
                        target.database(),
                        target.server()
                    )
                })?;
            println!("created database {target}");
            Ok(true)
        }
        Err(other) => Err(other.into()),
    }
}

/// pg_restore's flags: one transaction for a custom-format archive, so a failure leaves the
/// database empty rather than half restored; parallel jobs for a folder (they cannot share one
/// transaction); the owners left out or given to `--role`.
fn pg_restore_mode(args: &RestoreArgs) -> Vec<String> {
    let mut mode: Vec<String> = if args.file.is_dir() {
        vec![format!(
            "--jobs={}",
            args.jobs.unwrap_or_else(pg_tools::default_jobs).max(1)
        )]
    } else {
        vec!["--single-transaction".into()]
    };
    if args.no_owner {
        mode.push("--no-owner".into());
    }
    if let Some(role) = &args.role {
        mode.push(format!("--role={role}"));
    }
    mode
}

/// Drops the database a failed restore created; whether that worked.
fn drop_database(admin_url: &DatabaseUrl, name: &str, application: &str) -> bool {
    admin_url.connect(application).is_ok_and(|mut admin| {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_identifier(name)
            ))
            .is_ok()
    })
}

/// `--role` names a role of the target server, checked before anything is created.
fn check_role_exists(admin_url: &DatabaseUrl, role: &str, application: &str) -> Result<()> {
    let mut admin = admin_url.connect(application)?;
    let exists = admin
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)",
            &[&role],
        )
        .with_context(|| format!("looking up role \"{role}\""))?
        .get::<_, bool>(0);
    if !exists {
        anyhow::bail!(
            "role \"{role}\" (--role) does not exist on {}; create it first or leave out --role",
            admin_url.server()
        );
    }
    Ok(())
}

/// Data is only ever replaced with `--drop-existing` plus `--yes` or a typed confirmation.
fn refuse_or_confirm(args: &RestoreArgs, target: &DatabaseUrl, tables: &[String]) -> Result<()> {
    let shown: Vec<&str> = tables.iter().take(3).map(String::as_str).collect();
    let more = if tables.len() > 3 { ", ..." } else { "" };
    let holds = format!(
        "database \"{}\" on {} holds {} table{} ({}{more})",
        target.database(),
        target.server(),
        tables.len(),
        if tables.len() == 1 { "" } else { "s" },
        shown.join(", ")
    );
    if !args.drop_existing {
        anyhow::bail!(
            "{holds}; restore into another one with --target-db NAME, or replace it with --drop-existing"
        );
    }
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{holds}; --drop-existing needs --yes when there is no terminal to confirm on"
        );
    }
    let answer = terminal::ask(&format!(
        "{holds}.\nThis drops it and everything in it, then restores {}.\nType the database name to confirm: ",
        args.file.display()
    ))?;
    if answer != target.database() {
        anyhow::bail!(
            "not confirmed: \"{answer}\" is not \"{}\"; nothing was changed",
            target.database()
        );
    }
    Ok(())
}

/// Drops the database (ending its sessions) and creates it empty again, with the same owner.
fn recreate(admin_url: &DatabaseUrl, target: &DatabaseUrl, application: &str) -> Result<()> {
    let mut admin = admin_url.connect(application)?;
    let name = target.database();
    let quoted = quote_identifier(name);
    let owner: String = admin
        .query_one(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .with_context(|| format!("looking up the owner of database \"{name}\""))?
        .get(0);
    let on = target.server();
    admin
        .batch_execute(&format!("DROP DATABASE {quoted} WITH (FORCE)"))
        .with_context(|| format!("dropping database \"{name}\" on {on}"))?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {quoted} OWNER {} TEMPLATE template0",
            quote_identifier(&owner)
        ))
        .with_context(|| format!("creating database \"{name}\" again on {on}"))?;
    println!("dropped and recreated database {target}");
    Ok(())
}

/// The schema version and every migration's state after the restore.
fn print_status(args: &RestoreArgs, target: &DatabaseUrl) -> Result<()> {
    let mut client = target.connect(&format!("{} restore", target_database::APPLICATION))?;
    let history = history::read(&mut client).context("reading the migration history")?;
    let version = history.newest_applied().unwrap_or(0);
    println!("schema version: {version}");
    match target_database::load(args.database.dir.as_deref()) {
        Ok(set) => {
            for status in statuses(&set, &history) {
                println!("  {:<8} {}", status.state.as_str(), status.label());
            }
        }
        Err(error) => println!("  (no status: {error:#})"),
    }
    Ok(())
}
