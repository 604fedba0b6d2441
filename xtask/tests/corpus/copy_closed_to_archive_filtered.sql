-- expect: risky
-- form: unnamed
-- why: INSERT ... SELECT with a WHERE on status still copies most of a large table in one transaction, then deletes it: a large data migration
-- Purpose: Move closed tickets to the archive table.
-- Risk: High.
-- Rollback: Copy them back (down file).
-- Performance: Copies and deletes most of tickets in one transaction.

CREATE TABLE tickets_closed_archive (LIKE tickets INCLUDING DEFAULTS);
INSERT INTO tickets_closed_archive SELECT * FROM tickets WHERE status = 'closed';
DELETE FROM tickets WHERE status = 'closed';
