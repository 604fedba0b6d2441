-- expect: risky
-- form: unnamed
-- why: the CREATE INDEX inside the DO block is not concurrent: SHARE lock on comments for the build, writes wait
-- Purpose: Idempotent index on comment creation time.
-- Risk: Medium.
-- Rollback: Drop the index (down file).
-- Performance: Index build blocking writes.

DO $$
BEGIN
    IF to_regclass('comments_created_at_idx') IS NULL THEN
        CREATE INDEX comments_created_at_idx ON comments (created_at);
    END IF;
END;
$$;
