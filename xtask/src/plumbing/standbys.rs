//! The standbys part of `verify` and `health-check`: each streaming standby's lag, and whether it
//! has replayed the schema version the primary is at. Seen from the primary
//! (`pg_stat_replication`), a standby has replayed that version once its `replay_lsn` reaches
//! the primary's WAL position read right after the history (the version's commit is before it).
//! Through `--standby-url`, the standby's own history table says it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::replication::{bytes_text, Policy, Standby, Watch};
use migrations::{history, DatabaseUrl, Version};
use postgres::Client;

use crate::plumbing::check::Check;
use crate::plumbing::target_database::APPLICATION;

/// How long a standby streaming a little behind gets to reach the position read after the history.
const CATCH_UP: Duration = Duration::from_secs(5);
const NAME: &str = "standbys replayed the schema version";

pub fn check(client: &mut Client, standby_urls: &[String]) -> Result<Check> {
    let version = history::read(client)
        .context("reading the migration history")?
        .newest_applied();
    let shown = version.map_or_else(|| "0 (empty)".to_owned(), |v| v.to_string());
    let in_recovery: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .context("asking whether the server is a standby")?
        .get(0);
    if in_recovery {
        // A standby has no WAL position of its own to compare with: its primary reports it.
        return Ok(Check::of(
            NAME,
            true,
            vec![format!(
                "this server is a standby (at version {shown}); its primary reports its standbys"
            )],
        ));
    }
    let applied_at: i64 = client
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint",
            &[],
        )
        .context("reading the primary's WAL position")?
        .get(0);
    let mut details = Vec::new();
    let mut passed = true;
    let mut watch = Watch::new(Policy::default());
    let started = Instant::now();
    let standbys = loop {
        let (standbys, _) = watch.read(client).context("reading pg_stat_replication")?;
        let behind = |standby: &Standby| standby.replay_position.is_some_and(|at| at < applied_at);
        if started.elapsed() >= CATCH_UP || !standbys.iter().any(behind) {
            break standbys;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for standby in &standbys {
        let position = standby.replay_lsn.as_deref().unwrap_or("hidden");
        let replayed = standby.replay_position.map(|at| at >= applied_at);
        details.push(match (standby.bytes_behind, replayed) {
            (Some(bytes), Some(true)) => format!(
                "{}: replayed version {shown} (replay_lsn {position}, {} behind, lag {:.1} s)",
                standby.name,
                bytes_text(bytes),
                standby.lag.as_secs_f64()
            ),
            (Some(bytes), _) => {
                passed = false;
                format!(
                    "{}: has not replayed version {shown} yet ({} behind, lag {:.1} s)",
                    standby.name,
                    bytes_text(bytes),
                    standby.lag.as_secs_f64()
                )
            }
            (None, _) => format!(
                "{}: position hidden from this role (grant it pg_monitor)",
                standby.name
            ),
        });
    }
    for text in standby_urls {
        let url: DatabaseUrl = text.parse().context("invalid URL in --standby-url")?;
        let (ok, line) = standby_history(&url, version);
        passed &= ok;
        details.push(line);
    }
    if details.is_empty() {
        details.push("no standby streams from this server".to_owned());
    }
    Ok(Check::of(NAME, passed, details))
}

/// A standby's own view: its newest applied version, and how long ago it replayed a transaction.
fn standby_history(url: &DatabaseUrl, version: Option<Version>) -> (bool, String) {
    let read = || -> Result<(Option<Version>, bool, Option<f64>)> {
        let mut client = url.connect(&format!("{APPLICATION} (standby check)"))?;
        let row = client.query_one(
            "SELECT pg_is_in_recovery(),
                    extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
            &[],
        )?;
        let newest = history::read(&mut client)?.newest_applied();
        Ok((newest, row.get(0), row.get(1)))
    };
    match read() {
        Err(error) => (false, format!("{url}: {error:#}")),
        Ok((newest, in_recovery, age)) => {
            let shown =
                |v: Option<Version>| v.map_or_else(|| "0 (empty)".to_owned(), |v| v.to_string());
            let role = if in_recovery {
                "standby"
            } else {
                "not a standby (not in recovery)"
            };
            let age = age.map_or_else(String::new, |s| {
                format!(", last replayed transaction {s:.1} s ago")
            });
            if newest == version {
                (
                    true,
                    format!("{url} ({role}): at version {}{age}", shown(newest)),
                )
            } else {
                (
                    false,
                    format!(
                        "{url} ({role}): at version {}, the primary at {}{age}",
                        shown(newest),
                        shown(version)
                    ),
                )
            }
        }
    }
}
