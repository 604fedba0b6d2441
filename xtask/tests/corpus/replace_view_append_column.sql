-- expect: safe
-- form: unnamed
-- why: CREATE OR REPLACE VIEW may only append columns: existing readers keep their columns; only the view (not tickets) is locked, briefly
-- Purpose: Reports need the assignee's name beside the open tickets.
-- Risk: Low. Appends a column to the view.
-- Rollback: Restore the previous definition (down file).
-- Performance: One more join per query on the view.

CREATE OR REPLACE VIEW open_tickets_by_queue AS
SELECT q.id AS queue_id,
       q.name AS queue_name,
       t.id AS ticket_id,
       t.title,
       t.status,
       t.priority,
       t.requester_id,
       t.assignee_id,
       t.created_at,
       t.updated_at,
       u.display_name AS assignee_name
FROM tickets t
JOIN queues q ON q.id = t.queue_id
LEFT JOIN users u ON u.id = t.assignee_id
WHERE t.status IN ('open', 'in_progress');
