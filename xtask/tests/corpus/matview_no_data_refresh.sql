-- expect: safe
-- form: unnamed
-- why: the materialized view is new: REFRESH locks only it (nobody reads it yet) and reads tickets under ACCESS SHARE, which blocks no reads or writes
-- Purpose: Per-queue ticket counts for the dashboard.
-- Risk: Low. A scan of tickets under the weakest lock.
-- Rollback: Drop the materialized view (down file).
-- Performance: One scan of tickets without blocking.

CREATE MATERIALIZED VIEW queue_ticket_counts AS
SELECT queue_id, status, count(*) AS tickets
FROM tickets
GROUP BY queue_id, status
WITH NO DATA;

REFRESH MATERIALIZED VIEW queue_ticket_counts;
