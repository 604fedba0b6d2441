-- expect: risky
-- form: named
-- why: WHERE new_column IS NULL is every row: one transaction updating all of tickets, holding every row lock till commit
-- Purpose: Add and fill first_reply_at.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Updates every ticket in one transaction.

ALTER TABLE tickets ADD COLUMN first_reply_at timestamptz;
UPDATE tickets SET first_reply_at = (SELECT min(c.created_at) FROM comments c WHERE c.ticket_id = tickets.id)
WHERE first_reply_at IS NULL;
