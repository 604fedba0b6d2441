-- expect: risky
-- form: unnamed
-- why: the DO block runs an UPDATE of every comment in the migration's transaction: all rows locked until commit
-- Purpose: Trim whitespace from all comment bodies.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Updates every comment in one transaction.

DO $$
BEGIN
    UPDATE comments SET body = btrim(body);
END;
$$;
