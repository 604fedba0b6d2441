-- expect: risky
-- form: named
-- why: a validated foreign key scans all tickets while holding SHARE ROW EXCLUSIVE on tickets and queue_agents: writes to both wait
-- Purpose: An assignee must be an agent of the ticket's queue.
-- Risk: Medium.
-- Rollback: Drop the constraint (down file).
-- Performance: Full scan of tickets with lookups into queue_agents.

ALTER TABLE tickets ADD CONSTRAINT tickets_assignee_works_queue_fkey
    FOREIGN KEY (queue_id, assignee_id) REFERENCES queue_agents (queue_id, user_id);
