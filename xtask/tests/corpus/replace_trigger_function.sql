-- expect: safe
-- form: unnamed
-- why: CREATE OR REPLACE FUNCTION swaps the trigger body in the catalog; it locks no table and the behaviour stays compatible
-- Purpose: Do not bump updated_at when an UPDATE changes nothing.
-- Risk: Low. Function body only.
-- Rollback: Restore the previous body (down file).
-- Performance: Saves writes on no-op updates.

CREATE OR REPLACE FUNCTION tickets_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;
