-- expect: risky
-- form: unnamed
-- why: the EXECUTEd constant string changes comments.body to varchar(10000): a rewrite of comments under ACCESS EXCLUSIVE
-- Purpose: Limit comment length in the type.
-- Risk: Medium.
-- Rollback: Change it back to text (down file).
-- Performance: Full rewrite of comments.

DO $$
BEGIN
    EXECUTE 'ALTER TABLE comments ALTER COLUMN body TYPE varchar(10000)';
END;
$$;
