//! `cargo xtask verify`: post-migration checks on a live database (the checks themselves are
//! `plumbing::verification`'s and the standbys check; this prints them and sets the exit code).

use anyhow::Result;
use serde::Serialize;

use crate::flags::{Format, VerifyArgs};
use crate::plumbing::check::{self, Check, Layout};
use crate::plumbing::verification::{self, Expectations};
use crate::plumbing::{fleet, project, standbys, target_database};

#[derive(Serialize)]
struct JsonReport<'a> {
    database: String,
    checks: &'a [Check],
}

pub fn run(args: &VerifyArgs) -> Result<()> {
    let set = target_database::load(args.database.dir.as_deref())?;
    let snapshot = project::snapshot_path(&set.dir, args.snapshot.as_deref());
    let expectations = Expectations {
        snapshot: &snapshot,
        allow_pending: args.allow_pending,
        strict_column_order: args.column_order.strict_column_order,
    };
    if let Some(file) = &args.fleet.fleet {
        return fleet::verify(&set, file.as_deref(), &expectations, args.output.format);
    }
    let url = target_database::resolve(args.database.urls())?;
    let mut client = url.connect(&format!("{} verify", target_database::APPLICATION))?;
    let mut checks = verification::checks(&mut client, &set, &expectations)?;
    checks.push(standbys::check(&mut client, &args.standby_url)?);
    match args.output.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&JsonReport {
                database: url.redacted(),
                checks: &checks
            })?
        ),
        Format::Text => {
            println!("database {url}");
            for line in check::render(&checks, Layout::Block { indent: 0 }) {
                println!("{line}");
            }
        }
    }
    let failed = check::failed_names(&checks);
    if !failed.is_empty() {
        anyhow::bail!("{url} failed verification: {}", failed.join(", "));
    }
    Ok(())
}
