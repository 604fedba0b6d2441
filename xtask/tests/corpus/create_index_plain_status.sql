-- expect: risky
-- form: named
-- why: plain CREATE INDEX holds SHARE on tickets for the whole build: every INSERT/UPDATE/DELETE waits for minutes
-- Purpose: Filter tickets by status in the admin list.
-- Risk: Medium. Index build.
-- Rollback: Drop the index (down file).
-- Performance: Full scan and sort of tickets.

CREATE INDEX tickets_status_idx ON tickets (status);
