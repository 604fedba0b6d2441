-- Purpose: One place that says what an "open ticket in a queue" is, for agents' queue views and
--   reports: tickets still open or in progress, with their queue's name.
-- Risk: Low. Creates a view; no table changes.
-- Rollback: Drop the view (V0006__create_open_tickets_by_queue.down.sql).
-- Performance: The view's filter matches tickets_queue_priority_idx (V0005).

CREATE VIEW open_tickets_by_queue AS
SELECT q.id AS queue_id,
       q.name AS queue_name,
       t.id AS ticket_id,
       t.title,
       t.status,
       t.priority,
       t.requester_id,
       t.assignee_id,
       t.created_at,
       t.updated_at
FROM tickets t
JOIN queues q ON q.id = t.queue_id
WHERE t.status IN ('open', 'in_progress');
