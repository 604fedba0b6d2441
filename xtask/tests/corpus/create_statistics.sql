-- expect: safe
-- form: unnamed
-- why: CREATE STATISTICS takes SHARE UPDATE EXCLUSIVE: no reads or writes wait
-- Purpose: Tell the planner queue and status are correlated.
-- Risk: Low. Planner metadata.
-- Rollback: Drop the statistics object (down file).
-- Performance: Filled by the next ANALYZE.

CREATE STATISTICS tickets_queue_status_stats (dependencies, ndistinct) ON queue_id, status FROM tickets;
