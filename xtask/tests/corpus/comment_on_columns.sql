-- expect: safe
-- form: unnamed
-- why: COMMENT ON takes SHARE UPDATE EXCLUSIVE for an instant and changes only the catalog
-- Purpose: Document the columns reporting tools show.
-- Risk: None. Comments only.
-- Rollback: Remove the comments (down file).
-- Performance: None.

COMMENT ON COLUMN tickets.status IS 'open, in_progress, resolved or closed';
COMMENT ON COLUMN comments.internal IS 'Visible to agents only.';
COMMENT ON TABLE queue_agents IS 'Which agents work which queues.';
