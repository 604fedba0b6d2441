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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{applied, edit_after_applying, files, record_run, APPLIED_ON, DIR};
    use crate::history::RunState;

    type Tweak = fn(&mut History);
    type Planned = Result<Vec<Version>, PlanError>;
    /// Name, versions on disk, versions applied, a change to the history, target, out of order
    /// allowed, plan.
    type MigrateCase = (
        &'static str,
        &'static [Version],
        &'static [Version],
        Tweak,
        Option<Version>,
        bool,
        Planned,
    );
    /// Name, versions on disk, versions applied, a change to the history, target, plan.
    type RollbackCase = (
        &'static str,
        &'static [Version],
        &'static [Version],
        Tweak,
        RollbackTarget,
        Planned,
    );

    fn no_tweak(_: &mut History) {}

    fn versions(plan: Result<Vec<&Migration>, PlanError>) -> Planned {
        plan.map(|migrations| migrations.iter().map(|m| m.version).collect())
    }

    /// Plans each case's migrate and compares the versions or the refusal with the case's.
    fn check_migrate(cases: &[MigrateCase]) {
        for (case, on_disk, done, tweak, target, allow_out_of_order, expected) in cases {
            let set = files(on_disk);
            let mut history = applied(done);
            tweak(&mut history);
            let plan = plan_migrate(&set, &history, *target, *allow_out_of_order);
            assert_eq!(versions(plan), *expected, "{case}");
        }
    }

    #[test]
    fn migrate_plans() {
        #[rustfmt::skip]
        let cases: &[MigrateCase] = &[
            ("empty database: everything", &[1, 2, 3], &[], no_tweak, None, false, Ok(vec![1, 2, 3])),
            ("partly applied: the rest", &[1, 2, 3], &[1], no_tweak, None, false, Ok(vec![2, 3])),
            ("up to date: nothing", &[1, 2], &[1, 2], no_tweak, None, false, Ok(vec![])),
            ("target: up to it", &[1, 2, 3], &[], no_tweak, Some(2), false, Ok(vec![1, 2])),
            ("target equal to current: nothing", &[1, 2, 3], &[1, 2], no_tweak, Some(2), false, Ok(vec![])),
            (
                "failed no-transaction up: run again",
                &[1, 2], &[1], |h| record_run(h, 2, Direction::Up, RunState::Failed, Some("boom")),
                None, false, Ok(vec![2]),
            ),
            (
                "unfinished up: run again",
                &[1, 2], &[1], |h| record_run(h, 2, Direction::Up, RunState::Running, None),
                None, false, Ok(vec![2]),
            ),
            (
                "earlier run applied: only a record",
                &[1, 2], &[1], |h| record_run(h, 1, Direction::Up, RunState::Applied, None),
                None, false, Ok(vec![2]),
            ),
            ("out of order, allowed", &[1, 2, 3], &[1, 3], no_tweak, None, true, Ok(vec![2])),
        ];
        check_migrate(cases);
    }

    /// Every refusal of `migrate`: out of order, a bad target, a diverged history, a failed rollback.
    #[test]
    fn migrate_refusals() {
        #[rustfmt::skip]
        let cases: &[MigrateCase] = &[
            (
                "out of order",
                &[1, 2, 3], &[1, 3], no_tweak, None, false,
                Err(PlanError::OutOfOrder {
                    file: "V0002__step_2.sql".into(),
                    newest: "V0003__step_3".into(),
                    newest_version: 3,
                }),
            ),
            (
                "out of order below the target",
                &[1, 2, 3, 4], &[1, 3], no_tweak, Some(4), false,
                Err(PlanError::OutOfOrder {
                    file: "V0002__step_2.sql".into(),
                    newest: "V0003__step_3".into(),
                    newest_version: 3,
                }),
            ),
            (
                "unknown target",
                &[1, 2], &[], no_tweak, Some(9), false,
                Err(PlanError::UnknownTarget { target: 9, dir: DIR.into() }),
            ),
            (
                "target below current",
                &[1, 2, 3], &[1, 2], no_tweak, Some(1), false,
                Err(PlanError::TargetBelowCurrent { target: 1, current: 2 }),
            ),
            (
                "applied file edited",
                &[1, 2], &[1], |h| edit_after_applying(h, 1), None, false,
                Err(PlanError::Modified { file: "V0001__step_1.sql".into(), applied_on: APPLIED_ON.into() }),
            ),
            (
                "applied file renamed",
                &[1, 2], &[1], |h| h.applied.get_mut(&1).unwrap().name = "old_name".into(), None, false,
                Err(PlanError::Modified { file: "V0001__step_1.sql".into(), applied_on: APPLIED_ON.into() }),
            ),
            (
                "applied file deleted",
                &[1, 3], &[1, 2], no_tweak, None, false,
                Err(PlanError::Missing { label: "V0002__step_2".into(), applied_on: APPLIED_ON.into(), dir: DIR.into() }),
            ),
            (
                "divergence refused before the target is looked at",
                &[1, 2], &[1], |h| edit_after_applying(h, 1), Some(9), false,
                Err(PlanError::Modified { file: "V0001__step_1.sql".into(), applied_on: APPLIED_ON.into() }),
            ),
            (
                "failed rollback",
                &[1, 2], &[1, 2], |h| record_run(h, 2, Direction::Down, RunState::Failed, Some("boom")),
                None, false,
                Err(PlanError::FailedRollback { label: "V0002__step_2".into(), error: "boom".into() }),
            ),
            (
                "unfinished rollback",
                &[1, 2], &[1, 2], |h| record_run(h, 2, Direction::Down, RunState::Running, None),
                Some(2), false,
                Err(PlanError::FailedRollback { label: "V0002__step_2".into(), error: String::new() }),
            ),
        ];
        check_migrate(cases);
    }

    #[test]
    fn rollback_plans() {
        use RollbackTarget::{Steps, To};
        let edited = "V0003__step_3.sql was edited after it was applied, so its rollback may not match what ran; revert the edit first";
        #[rustfmt::skip]
        let cases: &[RollbackCase] = &[
            ("nothing applied", &[1, 2], &[], no_tweak, Steps(1), Err(PlanError::NothingApplied)),
            ("nothing applied, to 0", &[1, 2], &[], no_tweak, To(0), Err(PlanError::NothingApplied)),
            ("one step: the newest", &[1, 2, 3], &[1, 2, 3], no_tweak, Steps(1), Ok(vec![3])),
            ("two steps: newest first", &[1, 2, 3], &[1, 2, 3], no_tweak, Steps(2), Ok(vec![3, 2])),
            ("more steps than applied: all", &[1, 2, 3], &[1, 2], no_tweak, Steps(9), Ok(vec![2, 1])),
            ("zero steps: nothing", &[1, 2, 3], &[1, 2, 3], no_tweak, Steps(0), Ok(vec![])),
            ("to V: everything above it", &[1, 2, 3], &[1, 2, 3], no_tweak, To(1), Ok(vec![3, 2])),
            ("to 0: everything", &[1, 2, 3], &[1, 2, 3], no_tweak, To(0), Ok(vec![3, 2, 1])),
            ("to the current version: nothing", &[1, 2, 3], &[1, 2, 3], no_tweak, To(3), Ok(vec![])),
            ("to a pending version: what is applied above it", &[1, 2, 3], &[1, 3], no_tweak, To(2), Ok(vec![3])),
            ("pending files are ignored", &[1, 2, 3], &[1], no_tweak, Steps(1), Ok(vec![1])),
            (
                "edited file below the range: ignored",
                &[1, 2, 3], &[1, 2, 3], |h| edit_after_applying(h, 1), Steps(1), Ok(vec![3]),
            ),
            (
                "files missing",
                &[1, 2], &[1, 2, 3], no_tweak, Steps(1),
                Err(PlanError::CannotRollBack {
                    label: "V0003__step_3".into(),
                    reason: format!("its files are missing from {DIR}"),
                }),
            ),
            (
                "files missing below the range: ignored",
                &[2, 3], &[1, 2, 3], no_tweak, To(1), Ok(vec![3, 2]),
            ),
            (
                "edited file",
                &[1, 2, 3], &[1, 2, 3], |h| edit_after_applying(h, 3), To(0),
                Err(PlanError::CannotRollBack { label: "V0003__step_3".into(), reason: edited.into() }),
            ),
        ];
        for (case, on_disk, done, tweak, target, expected) in cases {
            let set = files(on_disk);
            let mut history = applied(done);
            tweak(&mut history);
            assert_eq!(
                versions(plan_rollback(&set, &history, *target)),
                *expected,
                "{case}"
            );
        }
    }

    #[test]
    fn refusals_name_the_file_and_the_way_out() {
        #[rustfmt::skip]
        let cases = [
            (
                "modified",
                PlanError::Modified { file: "V0001__a.sql".into(), applied_on: APPLIED_ON.into() },
                "V0001__a.sql was edited after it was applied on 2026-01-02T03:04:05Z; revert the edit, or add a new migration",
            ),
            (
                "out of order",
                PlanError::OutOfOrder { file: "V0002__b.sql".into(), newest: "V0003__c".into(), newest_version: 3 },
                "V0002__b.sql is pending but the newer V0003__c is already applied; renumber it above 3, or pass --allow-out-of-order",
            ),
            (
                "target below current",
                PlanError::TargetBelowCurrent { target: 1, current: 2 },
                "target version 1 is below the current version 2; use `cargo xtask rollback --to 1`",
            ),
        ];
        for (case, error, message) in cases {
            assert_eq!(error.to_string(), message, "{case}");
        }
    }
}
