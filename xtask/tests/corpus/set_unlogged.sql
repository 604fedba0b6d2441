-- expect: risky
-- form: unnamed
-- why: SET UNLOGGED rewrites comments under ACCESS EXCLUSIVE, and the table is then emptied by any crash
-- Purpose: Faster comment writes.
-- Risk: High.
-- Rollback: SET LOGGED (down file).
-- Performance: Full rewrite.

ALTER TABLE comments SET UNLOGGED;
