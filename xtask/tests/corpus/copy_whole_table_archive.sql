-- expect: risky
-- form: named
-- why: INSERT ... SELECT of all comments copies a large table in one transaction: minutes of I/O, WAL and replica lag (a large data migration)
-- Purpose: Snapshot all comments before the moderation cleanup.
-- Risk: Medium.
-- Rollback: Drop the copy (down file).
-- Performance: Copies the whole table in one transaction.

CREATE TABLE comments_snapshot (LIKE comments INCLUDING DEFAULTS);
INSERT INTO comments_snapshot SELECT * FROM comments;
