-- expect: risky
-- form: named
-- why: LOCK TABLE ... IN SHARE MODE blocks every write to tickets until the migration commits
-- Purpose: Freeze tickets while the priority remap runs.
-- Risk: High.
-- Rollback: None (down file is a comment).
-- Performance: Blocks writes for the whole migration.

LOCK TABLE tickets IN SHARE MODE;
UPDATE tickets SET priority = 4 WHERE id = 1;
