-- expect: multi-step
-- form: unnamed
-- why: the new CHECK (NOT VALID: no scan) rejects 'resolved', which the running app still writes: its status updates fail
-- Purpose: Resolved is folded into closed.
-- Risk: High.
-- Rollback: Restore the old constraint (down file).
-- Performance: None now.

ALTER TABLE tickets DROP CONSTRAINT tickets_status_known;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_known
    CHECK (status IN ('open', 'in_progress', 'closed')) NOT VALID;
