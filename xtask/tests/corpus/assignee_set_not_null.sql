-- expect: multi-step
-- form: named
-- why: the running app creates tickets without an assignee, which SET NOT NULL would reject; it also scans tickets under ACCESS EXCLUSIVE
-- Purpose: Every ticket must have an assignee.
-- Risk: High.
-- Rollback: DROP NOT NULL (down file).
-- Performance: Full scan under ACCESS EXCLUSIVE.

UPDATE tickets SET assignee_id = requester_id WHERE assignee_id IS NULL;
ALTER TABLE tickets ALTER COLUMN assignee_id SET NOT NULL;
