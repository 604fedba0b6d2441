-- expect: risky
-- form: named
-- why: ADD COLUMN ... REFERENCES validates the new foreign key with a scan of tickets under SHARE ROW EXCLUSIVE, even though the column is all NULL
-- Purpose: Tickets can be merged into another.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: A scan of tickets.

ALTER TABLE tickets ADD COLUMN merged_into_id bigint REFERENCES tickets (id);
