-- expect: safe
-- form: unnamed
-- why: creating a view takes only ACCESS SHARE on its base tables while parsing: nothing waits
-- Purpose: Unassigned open tickets, for the triage screen.
-- Risk: Low. A new view.
-- Rollback: Drop the view (down file).
-- Performance: Served by tickets_queue_priority_idx and tickets_assignee_id_idx.

CREATE VIEW unassigned_tickets AS
SELECT t.id, t.title, t.priority, t.queue_id, t.created_at
FROM tickets t
WHERE t.assignee_id IS NULL AND t.status IN ('open', 'in_progress');
