//! The migrations each phase of `bench online` deploys: the project's, then the benchmark's own
//! steps in the phase's forms (the safe ones, their naive twins), written into a folder of the
//! phase's own with the schema snapshot deploy-db verifies against.

use std::path::Path;

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, Version};
use xshell::{cmd, Shell};

use crate::plumbing::project;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Forms {
    Ours,
    Naive,
    /// The project's own migrations from this version on.
    Project(Version),
}

impl Forms {
    pub(super) fn name(self) -> &'static str {
        match self {
            Forms::Ours => "ours",
            Forms::Naive => "naive",
            Forms::Project(_) => "project",
        }
    }

    /// Whether the target applies: the naive forms are there to show what it prevents.
    pub(super) fn held_to_target(self) -> bool {
        self != Forms::Naive
    }
}

/// One generated migration: its up file is the documentation header, then `body`.
struct Step {
    name: &'static str,
    purpose: &'static str,
    risk: &'static str,
    body: &'static str,
    down: &'static str,
}

/// The safe forms, which deploy-db accepts without a maintenance window.
const OURS: [Step; 4] = [
    Step {
        name: "index_tickets_status_created_at",
        purpose: "an index for status lists",
        risk: "safe: built concurrently",
        body: "-- xtask: no-transaction\n\
               CREATE INDEX CONCURRENTLY tickets_status_created_at_idx ON tickets (status, created_at);\n",
        down: "-- xtask: no-transaction\nDROP INDEX CONCURRENTLY tickets_status_created_at_idx;\n",
    },
    Step {
        name: "add_tickets_channel",
        purpose: "where a ticket came from",
        risk: "safe: a constant default rewrites nothing",
        body: "ALTER TABLE tickets ADD COLUMN channel text DEFAULT 'web';\n",
        down: "ALTER TABLE tickets DROP COLUMN channel;\n",
    },
    Step {
        name: "add_tickets_requester_fk_not_valid",
        purpose: "a second requester foreign key",
        risk: "safe: NOT VALID checks no existing row",
        body: "ALTER TABLE tickets ADD CONSTRAINT tickets_requester_bench_fkey\n    \
               FOREIGN KEY (requester_id) REFERENCES users (id) NOT VALID;\n",
        down: "ALTER TABLE tickets DROP CONSTRAINT tickets_requester_bench_fkey;\n",
    },
    Step {
        name: "validate_tickets_requester_fk",
        purpose: "validate the foreign key",
        risk: "safe: validation lets reads and writes go on",
        body: "ALTER TABLE tickets VALIDATE CONSTRAINT tickets_requester_bench_fkey;\n",
        down: "SELECT 1;\n",
    },
];

/// The same changes written the naive way, which take locks that stall the load.
const NAIVE: [Step; 3] = [
    Step {
        name: "index_tickets_status_created_at",
        purpose: "an index for status lists",
        risk: "risky: blocks writes while it builds",
        body: "CREATE INDEX tickets_status_created_at_idx ON tickets (status, created_at);\n",
        down: "DROP INDEX tickets_status_created_at_idx;\n",
    },
    Step {
        name: "add_tickets_channel",
        purpose: "a column",
        risk: "risky: a volatile default rewrites the table",
        body: "ALTER TABLE tickets ADD COLUMN channel uuid NOT NULL DEFAULT gen_random_uuid();\n",
        down: "ALTER TABLE tickets DROP COLUMN channel;\n",
    },
    Step {
        name: "add_tickets_requester_fk",
        purpose: "a second requester foreign key",
        risk: "risky: validated while writes wait",
        body: "ALTER TABLE tickets ADD CONSTRAINT tickets_requester_bench_fkey\n    \
               FOREIGN KEY (requester_id) REFERENCES users (id);\n",
        down: "ALTER TABLE tickets DROP CONSTRAINT tickets_requester_bench_fkey;\n",
    },
];

/// The columns the expand/contract rename is tried on, in order (see `add_expand_contract`).
const RENAMES: [(&str, &str); 2] = [
    ("tickets.title", "subject"),
    ("tickets.description", "details"),
];

/// The project's migrations copied into `folder/sql`, then the pending ones in the given forms.
/// Returns what the reader should know (a step that could not be generated).
pub fn write(
    sh: &Shell,
    xtask: &Path,
    server: &DatabaseUrl,
    folder: &Path,
    forms: Forms,
) -> Result<Vec<String>> {
    let dir = folder.join("sql");
    let first = 1 + copy_project(folder, &dir)?;
    let steps: &[Step] = match forms {
        Forms::Ours => &OURS,
        Forms::Naive => &NAIVE,
        Forms::Project(_) => &[],
    };
    for (next, step) in (first..).zip(steps) {
        let header = format!(
            "-- Purpose: benchmark: {}\n-- Risk: {}\n\
             -- Rollback: the down file undoes it\n-- Performance: every row of tickets\n",
            step.purpose, step.risk
        );
        let file = format!("V{next:04}__{}", step.name);
        std::fs::write(dir.join(format!("{file}.sql")), header + step.body)?;
        std::fs::write(dir.join(format!("{file}.down.sql")), step.down)?;
    }
    let mut notes = Vec::new();
    if forms == Forms::Ours {
        add_expand_contract(sh, xtask, &dir, &mut notes)?;
        // deploy-db verifies the result against the snapshot beside the folder.
        cmd!(sh, "{xtask} schema dump --dir {dir}")
            .env("DATABASE_URL", server.secret_conninfo())
            .quiet()
            .ignore_stdout()
            .run()
            .context("writing the schema snapshot of the benchmark's migrations")?;
    }
    Ok(notes)
}

/// Copies the project's migrations into `dir` and its snapshot beside it; returns the newest
/// version copied (0 for none).
fn copy_project(folder: &Path, dir: &Path) -> Result<u32> {
    std::fs::create_dir_all(dir)?;
    let source = project::migrations_dir(None);
    for entry in std::fs::read_dir(&source)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "sql") {
            std::fs::copy(&path, dir.join(path.file_name().context("a file name")?))?;
        }
    }
    let snapshot = project::snapshot_path(&source, None);
    std::fs::copy(&snapshot, folder.join("schema.snapshot"))
        .with_context(|| format!("copying {}", snapshot.display()))?;
    Ok(std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix('V')?
                .split("__")
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap_or(0))
}

/// The expand and backfill steps of an expand/contract rename, generated by `cargo xtask new`.
/// tickets.title first, as asked; the scaffold refuses it while a view reads it, so then a
/// column no view reads, to measure the expand and backfill steps all the same.
fn add_expand_contract(
    sh: &Shell,
    xtask: &Path,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<()> {
    for (column, new_name) in RENAMES {
        let output = cmd!(
            sh,
            "{xtask} new --expand-contract rename-column {column} {new_name} --dir {dir}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            notes.push(format!(
                "rename {column} to {new_name} skipped: `cargo xtask new --expand-contract` said: {}",
                said.trim().replace('\n', " ")
            ));
            continue;
        }
        // The backend still reads the old column: only expand and backfill may run under it.
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|name| name.contains("__contract_")) {
                std::fs::remove_file(&path)?;
            }
        }
        notes.push(format!(
            "rename {column} to {new_name}: its expand and backfill steps deployed (its contract \
             step left out: the running backend still reads the old column)"
        ));
        return Ok(());
    }
    Ok(())
}
