-- expect: multi-step
-- form: unnamed
-- why: the recreated view renames queue_name to queue: readers selecting queue_name fail
-- Purpose: Consistent column naming in the view.
-- Risk: High.
-- Rollback: Recreate the old view (down file).
-- Performance: None.

DROP VIEW open_tickets_by_queue;

CREATE VIEW open_tickets_by_queue AS
SELECT q.id AS queue_id,
       q.name AS queue,
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
