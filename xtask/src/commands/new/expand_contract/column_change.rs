//! The expand/contract steps of a column's rename or type change: expand (the new column and a
//! trigger keeping both in step), backfill (batched), contract (the old column dropped).

/// What the snapshot says about the column being changed.
pub(super) struct Column {
    pub table: String,
    pub name: String,
    pub kind: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub key: String,
    /// `ADD CONSTRAINT` and `CREATE INDEX` statements for what depends on the column alone: they
    /// go with it in the contract step, and its rollback brings them back.
    pub dependents: Vec<String>,
}

/// One generated migration.
pub(super) struct Step {
    pub name: String,
    pub up: String,
    pub down: String,
}

/// What the three steps of a column change share: the column, its new name and type, the
/// names of the sync trigger and of the NOT NULL check, and the trigger that keeps both columns
/// in step.
struct ColumnChange<'a> {
    column: &'a Column,
    new_name: &'a str,
    new_type: &'a str,
    /// `rename` or `retype`, as the contract step's acknowledgement says.
    verb: &'a str,
    /// The change as the user asked for it, quoted in every step's purpose.
    change: &'a str,
    sync: String,
    check: String,
    trigger: String,
}

/// Expand (new column, sync trigger), backfill (batched), contract (drop the old).
pub(super) fn column_steps(
    column: &Column,
    new_name: &str,
    new_type: &str,
    verb: &str,
    change: &str,
) -> Vec<Step> {
    let Column {
        table,
        name: old,
        kind: old_type,
        ..
    } = column;
    let sync = format!("{table}_sync_{old}_{new_name}");
    let check = format!("{table}_{new_name}_not_null");
    let to_new = format!("NEW.{old}::{new_type}");
    let to_old = format!("NEW.{new_name}::{old_type}");
    let trigger = format!(
        "CREATE FUNCTION {sync}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The version before the change writes only {old}; the version after writes {new_name}.
    IF TG_OP = 'INSERT' THEN
        IF NEW.{new_name} IS NULL THEN
            NEW.{new_name} := {to_new};
        ELSE
            NEW.{old} := {to_old};
        END IF;
    ELSIF NEW.{new_name} IS DISTINCT FROM OLD.{new_name} AND NEW.{old} IS NOT DISTINCT FROM OLD.{old} THEN
        NEW.{old} := {to_old};
    ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} OR NEW.{new_name} IS NULL THEN
        NEW.{new_name} := {to_new};
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER {sync} BEFORE INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {sync}();
"
    );
    let change = ColumnChange {
        column,
        new_name,
        new_type,
        verb,
        change,
        sync,
        check,
        trigger,
    };
    vec![change.expand(), change.backfill(), change.contract()]
}

impl ColumnChange<'_> {
    /// Step 1: the new column beside the old, and the trigger.
    fn expand(&self) -> Step {
        let ColumnChange {
            column,
            new_name,
            new_type,
            change,
            sync,
            check,
            trigger,
            ..
        } = self;
        let Column {
            table, name: old, ..
        } = column;
        let not_null_check = if column.not_null {
            format!("ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({new_name} IS NOT NULL) NOT VALID;\n")
        } else {
            String::new()
        };
        Step {
            name: format!("expand_{table}_{new_name}"),
            up: format!(
                "-- Purpose: Step 1 (expand) of \"{change}\": add {table}.{new_name} beside {table}.{old},
--   and a trigger that keeps both in step whichever one a running application version writes.
-- Risk: Safe. A nullable column without default and a NOT VALID check are catalog changes; the
--   trigger adds a little work to every write of {table} until the contract step drops it.
-- Rollback: Drops the trigger, its function and {table}.{new_name}.
-- Performance: No rewrite and no scan; the locks are brief and bounded by lock_timeout.

ALTER TABLE {table} ADD COLUMN {new_name} {new_type};
{not_null_check}
{trigger}"
            ),
            down: format!(
                "DROP TRIGGER {sync} ON {table};\nDROP FUNCTION {sync}();\nALTER TABLE {table} DROP COLUMN {new_name};\n"
            ),
        }
    }

    /// Steps 2 and 3: every existing value copied, in batches.
    fn backfill(&self) -> Step {
        let ColumnChange {
            column,
            new_name,
            new_type,
            change,
            ..
        } = self;
        let Column {
            table,
            name: old,
            key,
            ..
        } = column;
        Step {
            name: format!("backfill_{table}_{new_name}"),
            up: format!(
                "-- Purpose: Step 2 and 3 of \"{change}\": copy every existing {old} into {new_name}, in
--   batches (new writes are already copied by the trigger of the expand step).
-- Risk: Safe. Short transactions over {key} ranges; each batch locks its rows about 200 ms.
-- Rollback: Nothing to undo: the copies go away with the column when the expand step is rolled back.
-- Performance: One pass over {table} in key order; resumable if stopped.
-- xtask: batched {table} {key}

UPDATE {table} SET {new_name} = {old}::{new_type}
WHERE {key} > $1 AND {key} <= $2 AND {new_name} IS DISTINCT FROM {old}::{new_type};
"
            ),
            down: format!(
                "-- Nothing to undo: the copied values leave with {table}.{new_name} when the expand step is rolled back.\nSELECT 1;\n"
            ),
        }
    }

    /// Step 5: the old column and the trigger dropped (after step 4, outside the database).
    fn contract(&self) -> Step {
        let ColumnChange {
            column,
            new_name,
            verb,
            change,
            sync,
            check,
            trigger,
            ..
        } = self;
        let Column {
            table,
            name: old,
            kind: old_type,
            ..
        } = column;
        let (set_default, restore_default, drop_default) = self.defaults();
        let (make_not_null, undo_not_null, restore_old_not_null) = if column.not_null {
            (
                format!(
                    "ALTER TABLE {table} VALIDATE CONSTRAINT {check};\nALTER TABLE {table} ALTER COLUMN {new_name} SET NOT NULL;\nALTER TABLE {table} DROP CONSTRAINT {check};\n"
                ),
                format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({new_name} IS NOT NULL) NOT VALID;\nALTER TABLE {table} ALTER COLUMN {new_name} DROP NOT NULL;\n"
                ),
                format!("ALTER TABLE {table} ALTER COLUMN {old} SET NOT NULL;\n"),
            )
        } else {
            (String::new(), String::new(), String::new())
        };
        let (dependents_note, restore_dependents) = self.dependents();
        Step {
            name: format!("contract_{table}_{old}"),
            up: format!(
                "-- Purpose: Step 5 (contract) of \"{change}\": drop {table}.{old} and the sync trigger.
--   APPLY ONLY AFTER step 4: every running application version reads and writes {new_name}
--   (the release that switched reads is deployed everywhere). Until then, keep this file out
--   of the release.
-- Risk: Destroys {table}.{old}; acknowledged below. Nothing reads it any more.
-- Rollback: Adds {old} back, copies {new_name} into it, restores the trigger.
-- Performance: VALIDATE scans {table} without blocking writes; the rest is catalog changes.
-- xtask: allow drop-column -- step 5 of the expand/contract {verb}: reads moved to {new_name} in step 4
-- xtask: allow drop-object -- the sync trigger and its function step 1 added; only they use each other
{dependents_note}
{make_not_null}{set_default}DROP TRIGGER {sync} ON {table};
DROP FUNCTION {sync}();
ALTER TABLE {table} DROP COLUMN {old};
"
            ),
            down: format!(
                "ALTER TABLE {table} ADD COLUMN {old} {old_type};
UPDATE {table} SET {old} = {new_name}::{old_type};
{restore_default}{restore_old_not_null}{restore_dependents}{drop_default}{undo_not_null}
{trigger}"
            ),
        }
    }

    /// The old column's default moved to the new column, and back on rollback.
    fn defaults(&self) -> (String, String, String) {
        let (column, new_name) = (self.column, self.new_name);
        let Column {
            table, name: old, ..
        } = column;
        let set_default = column
            .default
            .as_ref()
            .map(|default| {
                format!("ALTER TABLE {table} ALTER COLUMN {new_name} SET DEFAULT {default};\n")
            })
            .unwrap_or_default();
        let restore_default = column
            .default
            .as_ref()
            .map(|default| {
                format!("ALTER TABLE {table} ALTER COLUMN {old} SET DEFAULT {default};\n")
            })
            .unwrap_or_default();
        let drop_default = column
            .default
            .as_ref()
            .map(|_| format!("ALTER TABLE {table} ALTER COLUMN {new_name} DROP DEFAULT;\n"))
            .unwrap_or_default();
        (set_default, restore_default, drop_default)
    }

    /// What depends on the old column (dropped with it): a note in the contract step, and the
    /// statements its rollback runs again.
    fn dependents(&self) -> (String, String) {
        let (column, new_name) = (self.column, self.new_name);
        let old = &column.name;
        let dependents = &column.dependents;
        let dependents_note = if dependents.is_empty() {
            String::new()
        } else {
            format!(
                "-- Goes with {old}, and comes back with its rollback (recreate it on {new_name} first if still wanted):\n{}\n",
                dependents.iter().map(|statement| format!("--   {statement}")).collect::<Vec<_>>().join("\n")
            )
        };
        let restore_dependents: String = dependents
            .iter()
            .map(|statement| format!("{statement}\n"))
            .collect();
        (dependents_note, restore_dependents)
    }
}
