-- expect: risky
-- form: named
-- why: timestamptz -> timestamp rewrites queue_agents and rebuilds its indexes under ACCESS EXCLUSIVE (unless the session time zone is UTC)
-- Purpose: Store local time of assignment.
-- Risk: Medium.
-- Rollback: Change it back (down file).
-- Performance: Full rewrite.

ALTER TABLE queue_agents ALTER COLUMN added_at TYPE timestamp;
