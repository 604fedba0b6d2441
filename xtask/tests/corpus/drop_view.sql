-- expect: multi-step
-- form: unnamed
-- why: reports and agents' queue views read open_tickets_by_queue: they fail as soon as it is dropped
-- Purpose: The view is replaced by a materialized one.
-- Risk: High.
-- Rollback: Recreate the view (down file).
-- Performance: None.

DROP VIEW open_tickets_by_queue;
