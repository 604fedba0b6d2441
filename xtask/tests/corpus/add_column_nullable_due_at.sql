-- expect: safe
-- form: named
-- why: ADD COLUMN without default only updates the catalog: ACCESS EXCLUSIVE for milliseconds, no rewrite; the running app ignores the column
-- Purpose: Tickets get an optional due date agents can set.
-- Risk: Low. A nullable column without default is a catalog change.
-- Rollback: Drop the column (down file).
-- Performance: None: no rewrite, no scan.

ALTER TABLE tickets ADD COLUMN due_at timestamptz;
COMMENT ON COLUMN tickets.due_at IS 'When the requester needs an answer; NULL = no deadline.';
