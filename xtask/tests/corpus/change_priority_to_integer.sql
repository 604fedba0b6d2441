-- expect: multi-step
-- form: named
-- why: smallint -> integer rewrites tickets under ACCESS EXCLUSIVE, and the running app decodes priority as i16, which fails on int4
-- Purpose: Room for finer priorities.
-- Risk: High.
-- Rollback: Change it back (down file).
-- Performance: Full rewrite and index rebuild.

DROP VIEW open_tickets_by_queue;
ALTER TABLE tickets ALTER COLUMN priority TYPE integer;

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
