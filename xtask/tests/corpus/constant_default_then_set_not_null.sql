-- expect: risky
-- form: named
-- why: the ADD COLUMN is catalog-only, but SET NOT NULL then scans all of tickets under ACCESS EXCLUSIVE (no validated CHECK proves it)
-- Purpose: Every ticket has a source, 'web' for existing ones.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full scan of tickets under the strongest lock.

ALTER TABLE tickets ADD COLUMN source text DEFAULT 'web';
ALTER TABLE tickets ALTER COLUMN source SET NOT NULL;
