//! `cargo xtask health-check [--url URL]`: the strategy's health check after a migration. One
//! line per check; exit 1 when any fails.

use anyhow::{Context, Result};
use migrations::{history, statuses, DatabaseUrl, MigrationSet};
use postgres::Client;

use crate::flags::HealthCheckArgs;
use crate::plumbing::check::{self, Check, Layout};
use crate::plumbing::{readiness_probe, standbys, target_database};

pub fn run(args: &HealthCheckArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let mut checks = Vec::new();
    match url.connect(&format!("{} health-check", target_database::APPLICATION)) {
        Err(error) => checks.push(Check::of(
            "database reachable",
            false,
            vec![error.to_string()],
        )),
        Ok(mut client) => checks.extend(database_checks(&mut client, &url, &set, args)?),
    }
    if let Some(given) = &args.url {
        let ready = readiness_probe::ready_url(given);
        let outcome = readiness_probe::wait_ready(&ready, args.wait);
        checks.push(Check::of(
            "backend ready",
            outcome.is_ok(),
            vec![outcome.unwrap_or_else(|error| error)],
        ));
    }
    for line in check::render(&checks, Layout::OneLine) {
        println!("{line}");
    }
    let failed = check::failed_names(&checks);
    if !failed.is_empty() {
        anyhow::bail!("health check failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Reachable (with the server's version), every migration applied, no INVALID index, standbys.
fn database_checks(
    client: &mut Client,
    url: &DatabaseUrl,
    set: &MigrationSet,
    args: &HealthCheckArgs,
) -> Result<Vec<Check>> {
    let version: String = client
        .query_one("SHOW server_version", &[])
        .context("asking the server version")?
        .get(0);
    let reachable = Check::of(
        "database reachable",
        true,
        vec![format!("{url}, PostgreSQL {version}")],
    );
    let history = history::read(client).context("reading the migration history")?;
    let unclean: Vec<String> = statuses(set, &history)
        .iter()
        .filter(|status| !status.state.is_clean())
        .map(|status| format!("{} is {}", status.label(), status.state))
        .collect();
    let applied = if unclean.is_empty() {
        let at = history.newest_applied().unwrap_or(0);
        Check::of("migrations applied", true, vec![format!("at version {at}")])
    } else {
        Check::of("migrations applied", false, unclean)
    };
    let invalid = history::invalid_indexes(client).context("listing invalid indexes")?;
    let indexes = Check::of("no INVALID index", invalid.is_empty(), invalid);
    let standbys = standbys::check(client, &args.standby_url)?;
    Ok(vec![reachable, applied, indexes, standbys])
}
