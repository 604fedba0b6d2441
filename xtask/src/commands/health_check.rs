//! `cargo xtask health-check [--url URL]`: the strategy's health check after a migration. One
//! line per check; exit 1 when any fails.

use anyhow::{Context, Result};
use migrations::{history, statuses};

use crate::commands::verify::{self, Check};
use crate::flags::HealthCheckArgs;
use crate::plumbing::{readiness_probe, target_database};

pub fn run(args: &HealthCheckArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    let url = target_database::resolve(args.database.urls())?;
    let mut checks = Vec::new();
    match url.connect(&format!("{} health-check", target_database::APPLICATION)) {
        Err(error) => checks.push(Check {
            name: "database reachable",
            passed: false,
            details: vec![error.to_string()],
        }),
        Ok(mut client) => {
            let version: String = client
                .query_one("SHOW server_version", &[])
                .context("asking the server version")?
                .get(0);
            checks.push(Check {
                name: "database reachable",
                passed: true,
                details: vec![format!("{url}, PostgreSQL {version}")],
            });
            let history = history::read(&mut client).context("reading the migration history")?;
            let unclean: Vec<String> = statuses(&set, &history)
                .iter()
                .filter(|status| !status.state.is_clean())
                .map(|status| format!("{} is {}", status.label(), status.state))
                .collect();
            checks.push(Check {
                name: "migrations applied",
                passed: unclean.is_empty(),
                details: if unclean.is_empty() {
                    vec![format!(
                        "at version {}",
                        history.newest_applied().unwrap_or(0)
                    )]
                } else {
                    unclean
                },
            });
            let invalid =
                history::invalid_indexes(&mut client).context("listing invalid indexes")?;
            checks.push(Check {
                name: "no INVALID index",
                passed: invalid.is_empty(),
                details: invalid,
            });
            checks.push(crate::plumbing::standbys::check(
                &mut client,
                &args.standby_url,
            )?);
        }
    }
    if let Some(given) = &args.url {
        let ready = readiness_probe::ready_url(given);
        let outcome = readiness_probe::wait_ready(&ready, args.wait);
        checks.push(Check {
            name: "backend ready",
            passed: outcome.is_ok(),
            details: vec![outcome.unwrap_or_else(|error| error)],
        });
    }
    for check in &checks {
        let status = if check.passed { "ok  " } else { "FAIL" };
        println!("{status}  {}: {}", check.name, check.details.join("; "));
    }
    let failed = verify::failed_names(&checks);
    if !failed.is_empty() {
        anyhow::bail!("health check failed: {}", failed.join(", "));
    }
    Ok(())
}
