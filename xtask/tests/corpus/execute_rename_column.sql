-- expect: multi-step
-- form: unnamed
-- why: the EXECUTEd constant string renames tickets.description, which the running app selects and inserts
-- Purpose: Rename description to body.
-- Risk: High.
-- Rollback: Rename it back (down file).
-- Performance: Catalog only.

DO $$
BEGIN
    EXECUTE 'ALTER TABLE tickets RENAME COLUMN description TO body';
END;
$$;
