-- expect: risky
-- form: unnamed
-- why: the ALTER TABLE inside the DO block adds a validated CHECK: a scan of tickets under ACCESS EXCLUSIVE
-- Purpose: Idempotent: add the priority check where it is missing.
-- Risk: Medium.
-- Rollback: Drop the constraint (down file).
-- Performance: Full scan of tickets under ACCESS EXCLUSIVE.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'tickets_queue_positive') THEN
        ALTER TABLE tickets ADD CONSTRAINT tickets_queue_positive CHECK (queue_id > 0);
    END IF;
END;
$$;
