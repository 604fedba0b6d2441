-- expect: multi-step
-- form: named
-- why: the running app selects and returns tickets.description: every ticket query fails until the new release is out; data is lost too
-- Purpose: Descriptions move to the first comment.
-- Risk: High.
-- Rollback: Re-add the column empty (down file).
-- Performance: Catalog only.

ALTER TABLE tickets DROP COLUMN description;
