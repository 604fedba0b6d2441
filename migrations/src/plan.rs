//! Deciding what to run before running anything: every refusal happens here, so a refused command
//! has touched nothing.

use std::path::Path;

use crate::history::History;
use crate::model::{label, Direction, Migration, Version};
use crate::source::MigrationSet;
use crate::status::{statuses, State};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{file} was edited after it was applied on {applied_on}; revert the edit, or add a new migration")]
    Modified { file: String, applied_on: String },
    #[error("{label} was applied on {applied_on} but its file is missing from {dir}; restore the file (from version control) before migrating")]
    Missing {
        label: String,
        applied_on: String,
        dir: String,
    },
    #[error("{file} is pending but the newer {newest} is already applied; renumber it above {newest_version}, or pass --allow-out-of-order")]
    OutOfOrder {
        file: String,
        newest: String,
        newest_version: Version,
    },
    #[error("{label} failed while rolling back ({error}); finish it with `cargo xtask rollback` before migrating")]
    FailedRollback { label: String, error: String },
    #[error("target version {target} is not a migration in {dir}")]
    UnknownTarget { target: Version, dir: String },
    #[error("target version {target} is below the current version {current}; use `cargo xtask rollback --to {target}`")]
    TargetBelowCurrent { target: Version, current: Version },
    #[error("nothing to roll back: no migration is applied")]
    NothingApplied,
    #[error("cannot roll back {label}: {reason}")]
    CannotRollBack { label: String, reason: String },
}

/// The migrations `migrate` would apply, in order: pending ones up to `target` (all when `None`),
/// plus a failed run outside a transaction, which gets finished.
pub fn plan_migrate<'a>(
    set: &'a MigrationSet,
    history: &History,
    target: Option<Version>,
    allow_out_of_order: bool,
) -> Result<Vec<&'a Migration>, PlanError> {
    let dir = display_dir(&set.dir);
    refuse_divergence(set, history)?;
    if let Some(row) = history
        .states
        .values()
        .find(|row| history.unfinished(row.version).is_some() && row.direction == Direction::Down)
    {
        return Err(PlanError::FailedRollback {
            label: label(row.version, &row.name),
            error: row.error.clone().unwrap_or_default(),
        });
    }
    let current = history.newest_applied();
    if let Some(target) = target {
        if set.get(target).is_none() {
            return Err(PlanError::UnknownTarget { target, dir });
        }
        if let Some(current) = current.filter(|current| target < *current) {
            return Err(PlanError::TargetBelowCurrent { target, current });
        }
    }
    let pending: Vec<&Migration> = set
        .migrations
        .iter()
        .filter(|migration| !history.applied.contains_key(&migration.version))
        .filter(|migration| target.is_none_or(|target| migration.version <= target))
        .collect();
    if let (Some(newest), false) = (current, allow_out_of_order) {
        if let Some(early) = pending.iter().find(|migration| migration.version < newest) {
            let newest_name = &history.applied[&newest].name;
            return Err(PlanError::OutOfOrder {
                file: early.up.file_name(),
                newest: label(newest, newest_name),
                newest_version: newest,
            });
        }
    }
    Ok(pending)
}

/// How far `rollback` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The newest N applied migrations.
    Steps(usize),
    /// Everything applied above this version (`0`: everything).
    To(Version),
}

/// The migrations `rollback` would revert, newest first.
pub fn plan_rollback<'a>(
    set: &'a MigrationSet,
    history: &History,
    target: RollbackTarget,
) -> Result<Vec<&'a Migration>, PlanError> {
    if history.applied.is_empty() {
        return Err(PlanError::NothingApplied);
    }
    let newest_first = history.applied.values().rev();
    let chosen: Vec<_> = match target {
        RollbackTarget::Steps(steps) => newest_first.take(steps).collect(),
        RollbackTarget::To(version) => newest_first.filter(|row| row.version > version).collect(),
    };
    let dir = display_dir(&set.dir);
    chosen
        .into_iter()
        .map(|row| {
            let label = label(row.version, &row.name);
            let migration = set.get(row.version).ok_or_else(|| PlanError::CannotRollBack {
                label: label.clone(),
                reason: format!("its files are missing from {dir}"),
            })?;
            if migration.checksum.to_string() != row.checksum {
                return Err(PlanError::CannotRollBack {
                    label,
                    reason: format!(
                        "{} was edited after it was applied, so its rollback may not match what ran; revert the edit first",
                        migration.up.file_name()
                    ),
                });
            }
            Ok(migration)
        })
        .collect()
}

/// Refuses a history that no longer matches the files: an applied migration edited or deleted.
fn refuse_divergence(set: &MigrationSet, history: &History) -> Result<(), PlanError> {
    for status in statuses(set, history) {
        let applied_on = || {
            history
                .applied
                .get(&status.version)
                .map(|row| row.applied_on.clone())
                .unwrap_or_default()
        };
        match status.state {
            State::Modified => {
                let file = set
                    .get(status.version)
                    .map_or_else(|| status.label(), |migration| migration.up.file_name());
                return Err(PlanError::Modified {
                    file,
                    applied_on: applied_on(),
                });
            }
            State::Missing => {
                return Err(PlanError::Missing {
                    label: status.label(),
                    applied_on: applied_on(),
                    dir: display_dir(&set.dir),
                })
            }
            State::Applied | State::Pending | State::Failed => {}
        }
    }
    Ok(())
}

fn display_dir(dir: &Path) -> String {
    dir.display().to_string()
}
