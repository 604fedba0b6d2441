-- expect: risky
-- form: unnamed
-- why: WHERE on status and updated_at (non-key) matches most old tickets: a large UPDATE in one transaction blocking the app's updates of those rows
-- Purpose: Close tickets resolved more than 90 days ago.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Updates a large part of tickets in one transaction.

UPDATE tickets SET status = 'closed'
WHERE status = 'resolved' AND updated_at < now() - interval '90 days';
