//! `cargo xtask backfill status`: batched data migrations, running (or stopped) and finished.

use anyhow::{Context, Result};
use migrations::history;
use serde::Serialize;

use crate::flags::{BackfillArgs, BackfillCommand, Format};
use crate::plumbing::target_database;

#[derive(Serialize)]
struct Backfill {
    version: i32,
    name: String,
    direction: &'static str,
    table: String,
    state: &'static str,
    rows: i64,
    batches: i32,
    last_key: Option<i64>,
    stop_key: Option<i64>,
    started_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

pub fn run(args: &BackfillArgs) -> Result<()> {
    let BackfillCommand::Status { database, format } = &args.command;
    let url = target_database::resolve(database.urls())?;
    let mut client = url.connect(&format!("{} backfill status", target_database::APPLICATION))?;
    let backfills: Vec<Backfill> = history::backfills(&mut client)
        .context("reading the backfill progress")?
        .into_iter()
        .map(|backfill| Backfill {
            version: backfill.version,
            name: backfill.name,
            direction: backfill.direction.as_str(),
            table: backfill.table,
            state: match backfill.finished_at {
                Some(_) => "finished",
                None => "unfinished",
            },
            rows: backfill.rows,
            batches: backfill.batches,
            last_key: backfill.last_key,
            stop_key: backfill.stop_key,
            started_at: backfill.started_at,
            updated_at: backfill.updated_at,
            finished_at: backfill.finished_at,
        })
        .collect();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"backfills": backfills}))?
        ),
        Format::Text => {
            if backfills.is_empty() {
                println!("no batched data migration has run on {url}");
            }
            for backfill in &backfills {
                let label = migrations::model::label(backfill.version, &backfill.name);
                let position = match (backfill.last_key, backfill.stop_key) {
                    (Some(last), Some(stop)) => format!("key {last} of {stop}"),
                    _ => "not started".to_owned(),
                };
                println!(
                    "{label} {:<4} {} {:<10} {} rows in {} batches, {position}, updated {}",
                    backfill.direction,
                    backfill.table,
                    backfill.state,
                    backfill.rows,
                    backfill.batches,
                    backfill.updated_at
                );
            }
        }
    }
    Ok(())
}
