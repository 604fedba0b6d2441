//! `cargo xtask lint`: flags to the lint engine (`crate::linter`), its report printed in the
//! chosen format, and the exit code: 1 when an error nobody acknowledged remains, 2 for wrong usage.

use std::path::Path;

use anyhow::Result;
use migrations::trace::Settings as TraceSettings;

use crate::exit::Exit;
use crate::flags::{LintArgs, LintFormat};
use crate::linter::{self, report, trace, Target};
use crate::plumbing::{project, target_database};

pub fn run(args: &LintArgs) -> Result<()> {
    if let Some(name) = &args.explain {
        return explain(name);
    }
    let targets = targets(args)?;
    let reports = if args.trace {
        let server = target_database::server(args.scratch.database_url.as_deref())?;
        linter::lint_targets(&targets, &|dir: &Path| {
            let (reports, unavailable) =
                linter::lint_folder_traced(dir, &server, &TraceSettings::default(), |_| true);
            if let Some(trace::Unavailable(reason)) = unavailable {
                eprintln!(
                    "trace unavailable for {}, static verdict only: {reason}",
                    dir.display()
                );
            }
            reports
        })
    } else {
        linter::lint_targets(&targets, &linter::lint_folder)
    };
    match args.format {
        LintFormat::Text => anstream::print!("{}", report::text(&reports)),
        LintFormat::Json => println!("{}", report::json(&reports)?),
        LintFormat::Github => print!("{}", report::github(&reports)),
    }
    let blocking = linter::count_blocking(&reports);
    if blocking > 0 {
        anyhow::bail!(
            "lint failed: {blocking} unacknowledged error{}",
            if blocking == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn explain(name: &str) -> Result<()> {
    let text = linter::explain(name).ok_or_else(|| {
        Exit::usage(format!(
            "unknown rule `{name}`; the rules are: {}",
            linter::rule_names().join(", ")
        ))
    })?;
    print!("{text}");
    Ok(())
}

/// The paths named on the command line, or the migrations folder when none is.
fn targets(args: &LintArgs) -> Result<Vec<Target>> {
    if args.paths.is_empty() {
        let dir = project::migrations_dir(args.dir.as_deref());
        if !dir.is_dir() {
            return Err(Exit::usage(format!(
                "migrations folder {} does not exist",
                dir.display()
            )));
        }
        return Ok(vec![Target::Folder(dir)]);
    }
    args.paths
        .iter()
        .map(|path| {
            if path.is_dir() {
                Ok(Target::Folder(path.clone()))
            } else if path.is_file() {
                Ok(Target::File(path.clone()))
            } else {
                Err(Exit::usage(format!(
                    "{} is neither a file nor a folder",
                    path.display()
                )))
            }
        })
        .collect()
}
