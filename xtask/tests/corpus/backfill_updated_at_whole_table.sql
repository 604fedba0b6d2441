-- expect: risky
-- form: named
-- why: an UPDATE of every ticket in one transaction locks all rows until commit: the app's updates of tickets wait, the table bloats
-- Purpose: Reset updated_at to the last comment time.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Rewrites every row of tickets in one transaction.

UPDATE tickets SET updated_at = coalesce((SELECT max(c.created_at) FROM comments c WHERE c.ticket_id = tickets.id), created_at);
