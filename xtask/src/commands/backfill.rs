//! `cargo xtask backfill status`: batched data migrations, running (or stopped) and finished.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::flags::{BackfillArgs, BackfillCommand, Format};
use crate::plumbing::target_database;

#[derive(Serialize)]
struct Backfill {
    version: i32,
    name: String,
    direction: String,
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
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('bomizzel_backfill_progress') IS NOT NULL",
            &[],
        )?
        .get(0);
    let rows = if exists {
        client
            .query(
                "SELECT p.version, coalesce(s.name, r.name, ''), p.direction, p.table_name,
                        p.finished_at IS NOT NULL, p.rows_done, p.batches, p.last_key, p.stop_key,
                        to_char(p.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        to_char(p.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM bomizzel_backfill_progress p
                 LEFT JOIN bomizzel_migration_state s ON s.version = p.version
                 LEFT JOIN refinery_schema_history r ON r.version = p.version
                 ORDER BY p.version, p.direction",
                &[],
            )
            .context("reading the backfill progress")?
    } else {
        Vec::new()
    };
    let backfills: Vec<Backfill> = rows
        .iter()
        .map(|row| Backfill {
            version: row.get(0),
            name: row.get(1),
            direction: row.get(2),
            table: row.get(3),
            state: if row.get(4) { "finished" } else { "unfinished" },
            rows: row.get(5),
            batches: row.get(6),
            last_key: row.get(7),
            stop_key: row.get(8),
            started_at: row.get(9),
            updated_at: row.get(10),
            finished_at: row.get(11),
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
