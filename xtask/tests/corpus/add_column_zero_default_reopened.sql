-- expect: safe
-- form: named
-- why: integer NOT NULL DEFAULT 0 is a constant default: catalog-only, old rows read 0, no lock held beyond an instant
-- Purpose: Count how often a ticket was reopened, for quality reports.
-- Risk: Low. Constant default, no rewrite.
-- Rollback: Drop the column (down file).
-- Performance: None.

ALTER TABLE tickets ADD COLUMN reopened_count integer NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD CONSTRAINT tickets_reopened_count_nonnegative CHECK (reopened_count >= 0) NOT VALID;
