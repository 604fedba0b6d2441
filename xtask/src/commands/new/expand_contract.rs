//! `cargo xtask new --expand-contract CHANGE ...`: a breaking change written as the strategy's
//! five steps, one migration each where the database has a part: expand (the new column beside
//! the old, and a trigger that keeps both in step whichever one a running version writes), the
//! batched backfill, and, once the application reads the new column everywhere, the contract.
//! The schema comes from the committed snapshot, so the steps know types, keys and dependents.

mod column_change;

use std::path::Path;

use anyhow::{Context, Result};
use migrations::model::{is_snake_case, label};
use migrations::schema::Snapshot;

use crate::exit::Exit;
use crate::flags::ExpandContract;
use crate::plumbing::project;
use column_change::{Column, Step};

pub fn run(change: ExpandContract, words: &[String], dir: Option<&Path>) -> Result<()> {
    let dir = project::migrations_dir(dir);
    let snapshot_path = project::snapshot_path(&dir, None);
    let text = std::fs::read_to_string(&snapshot_path).with_context(|| {
        format!(
            "cannot read {}; run `cargo xtask schema dump` first",
            snapshot_path.display()
        )
    })?;
    let snapshot = Snapshot::parse(&text)
        .with_context(|| format!("{} is not a schema snapshot", snapshot_path.display()))?;
    let steps = match (change, words) {
        (ExpandContract::RenameColumn, [target, new_name]) => {
            let column = column(&snapshot, target)?;
            check_name(new_name)?;
            refuse_dependent_views(&snapshot, &column)?;
            column_change::column_steps(&column, new_name, &column.kind, "rename", &format!("rename {}.{} to {new_name}", column.table, column.name))
        }
        (ExpandContract::ChangeType, [target, new_type]) => {
            let column = column(&snapshot, target)?;
            refuse_dependent_views(&snapshot, &column)?;
            let new_name = format!("{}_new", column.name);
            column_change::column_steps(&column, &new_name, new_type, "retype", &format!("change {}.{} to {new_type}", column.table, column.name))
        }
        (ExpandContract::SetNotNull, [target]) => set_not_null_steps(&column(&snapshot, target)?),
        (ExpandContract::RenameTable, [table, new_name]) => {
            check_name(new_name)?;
            if !snapshot.objects.contains_key(&format!("table {table}")) {
                anyhow::bail!("table {table} is not in {}", snapshot_path.display());
            }
            rename_table_steps(table, new_name)
        }
        _ => return Err(Exit::usage(
            "usage: new --expand-contract rename-column TABLE.COLUMN NEW_NAME | change-type TABLE.COLUMN NEW_TYPE | set-not-null TABLE.COLUMN | rename-table TABLE NEW_NAME",
        )),
    };
    let first = project::next_version(&dir)?;
    for (offset, step) in steps.iter().enumerate() {
        let version = first + i32::try_from(offset).context("too many steps")?;
        let stem = label(version, &step.name);
        project::create_new_file(&dir.join(format!("{stem}.sql")), &step.up)?;
        project::create_new_file(&dir.join(format!("{stem}.down.sql")), &step.down)?;
        println!("created {}", dir.join(format!("{stem}.sql")).display());
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if !is_snake_case(name) {
        return Err(Exit::usage(format!("`{name}` is not a snake_case name")));
    }
    Ok(())
}

fn column(snapshot: &Snapshot, target: &str) -> Result<Column> {
    let (table, name) = target
        .split_once('.')
        .ok_or_else(|| Exit::usage(format!("`{target}` is not TABLE.COLUMN")))?;
    let attributes = snapshot
        .objects
        .get(&format!("table {table}"))
        .with_context(|| format!("table {table} is not in the schema snapshot"))?;
    let attribute = |what: &str| attributes.get(&format!("column {name}: {what}")).cloned();
    let kind = attribute("type").with_context(|| format!("table {table} has no column {name}"))?;
    let key = attributes
        .iter()
        .filter(|(attribute, _)| attribute.starts_with("constraint "))
        .find_map(|(_, definition)| {
            let columns = definition
                .strip_prefix("PRIMARY KEY (")?
                .strip_suffix(')')?;
            (!columns.contains(',')).then(|| columns.to_owned())
        })
        .with_context(|| {
            format!(
                "table {table} has no single-column primary key for the batched backfill to walk"
            )
        })?;
    let dependents = attributes
        .iter()
        .filter(|(_, definition)| mentions(definition, name))
        .filter_map(|(attribute, definition)| {
            if let Some(constraint) = attribute
                .strip_prefix("constraint ")
                .filter(|c| !c.contains(':'))
            {
                Some(format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition};"
                ))
            } else if attribute.starts_with("index ")
                && !attribute.contains(':')
                && !definition.contains("UNIQUE INDEX")
            {
                Some(format!("{definition};"))
            } else {
                None
            }
        })
        .collect();
    Ok(Column {
        table: table.to_owned(),
        name: name.to_owned(),
        kind,
        not_null: attribute("not null").is_some(),
        default: attribute("default"),
        key,
        dependents,
    })
}

/// A view reading the old column would break when the contract step drops it: it has to move to
/// the new column first, in a migration of its own.
fn refuse_dependent_views(snapshot: &Snapshot, column: &Column) -> Result<()> {
    let readers: Vec<&str> = snapshot
        .objects
        .iter()
        .filter(|(object, _)| {
            object.starts_with("view ") || object.starts_with("materialized view ")
        })
        .filter(|(_, attributes)| {
            attributes.get("definition").is_some_and(|definition| {
                mentions(definition, &column.table) && mentions(definition, &column.name)
            })
        })
        .map(|(object, _)| object.as_str())
        .collect();
    if !readers.is_empty() {
        anyhow::bail!(
            "{}.{} is read by {}; move the view to another column in a migration of its own first (its contract step would have to drop it)",
            column.table,
            column.name,
            readers.join(", ")
        );
    }
    Ok(())
}

fn mentions(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|part| part == word)
}

/// CHECK NOT VALID, VALIDATE (no write lock), SET NOT NULL (proven by the check: no scan), drop
/// the check.
fn set_not_null_steps(column: &Column) -> Vec<Step> {
    let Column { table, name, .. } = column;
    let check = format!("{table}_{name}_not_null");
    let header = |step: &str, risk: &str, rollback: &str, performance: &str| {
        format!(
            "-- Purpose: {step} of making {table}.{name} NOT NULL without blocking writes.\n\
             -- Risk: {risk}\n-- Rollback: {rollback}\n-- Performance: {performance}\n\n"
        )
    };
    vec![
        Step {
            name: format!("check_{table}_{name}_not_null"),
            up: header(
                "Step 1 of 3, a CHECK that new and updated rows must pass",
                "Safe. NOT VALID: existing rows are not scanned; the application must already write a value.",
                "Drops the check.",
                "Catalog change only.",
            ) + &format!("ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({name} IS NOT NULL) NOT VALID;\n"),
            down: format!("ALTER TABLE {table} DROP CONSTRAINT {check};\n"),
        },
        Step {
            name: format!("validate_{table}_{name}_not_null"),
            up: header(
                "Step 2 of 3, proving existing rows pass the check",
                "Safe. VALIDATE takes a lock that lets reads and writes go on; it fails if a row is still NULL (fill it first).",
                "Puts the check back to NOT VALID.",
                "One scan of the table, concurrent with traffic.",
            ) + &format!("ALTER TABLE {table} VALIDATE CONSTRAINT {check};\n"),
            down: format!(
                "ALTER TABLE {table} DROP CONSTRAINT {check};\nALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({name} IS NOT NULL) NOT VALID;\n"
            ),
        },
        Step {
            name: format!("set_{table}_{name}_not_null"),
            up: header(
                "Step 3 of 3, the NOT NULL itself",
                "Safe. The validated check proves the column has no NULL, so SET NOT NULL does not scan.",
                "Drops NOT NULL and puts the validated check back.",
                "Catalog change only.",
            ) + &format!(
                "ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL;\nALTER TABLE {table} DROP CONSTRAINT {check};\n"
            ),
            down: format!(
                "ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({name} IS NOT NULL);\nALTER TABLE {table} ALTER COLUMN {name} DROP NOT NULL;\n"
            ),
        },
    ]
}

/// Rename the table and leave its old name as a view over it: a simple view is updatable, so the
/// version before the change keeps reading and writing through it until the contract drops it.
fn rename_table_steps(table: &str, new_name: &str) -> Vec<Step> {
    vec![
        Step {
            name: format!("rename_{table}_to_{new_name}"),
            up: format!(
                "-- Purpose: Step 1 of renaming {table} to {new_name}: the new name, and the old one kept as an
--   updatable view, so both application versions work.
-- Risk: Safe: the view keeps the old name working for the running version. A brief ACCESS
--   EXCLUSIVE lock for the rename, bounded by lock_timeout.
-- Rollback: Drops the view and renames the table back.
-- Performance: Catalog changes only.

ALTER TABLE {table} RENAME TO {new_name};
CREATE VIEW {table} AS SELECT * FROM {new_name};
"
            ),
            down: format!("DROP VIEW {table};\nALTER TABLE {new_name} RENAME TO {table};\n"),
        },
        Step {
            name: format!("contract_{table}_view"),
            up: format!(
                "-- Purpose: Step 5 (contract) of renaming {table} to {new_name}: drop the old name.
--   APPLY ONLY AFTER every running application version uses {new_name}.
-- Risk: Safe once nothing uses the old name.
-- Rollback: Creates the view under the old name again.
-- Performance: Catalog change only.
-- xtask: allow drop-object -- step 5 of the expand/contract rename: every release reads {new_name}

DROP VIEW {table};
"
            ),
            down: format!("CREATE VIEW {table} AS SELECT * FROM {new_name};\n"),
        },
    ]
}
