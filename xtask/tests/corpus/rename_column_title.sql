-- expect: multi-step
-- form: named
-- why: the running app selects and inserts tickets.title: every ticket query fails after the rename
-- Purpose: Call it subject, as the UI does.
-- Risk: High.
-- Rollback: Rename it back (down file).
-- Performance: Catalog only.

ALTER TABLE tickets RENAME COLUMN title TO subject;
