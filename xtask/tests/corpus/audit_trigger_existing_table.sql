-- expect: safe
-- form: unnamed
-- why: CREATE TRIGGER on tickets takes SHARE ROW EXCLUSIVE only to add the trigger (no scan, milliseconds); the trigger writes to a new table
-- Purpose: Record every status change of a ticket.
-- Risk: Low. One insert per status change from now on.
-- Rollback: Drop trigger, function and table (down file).
-- Performance: One small insert per status change.

CREATE TABLE ticket_status_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id bigint NOT NULL,
    old_status text NOT NULL,
    new_status text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION tickets_log_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_status_changes (ticket_id, old_status, new_status)
    VALUES (NEW.id, OLD.status, NEW.status);
    RETURN NEW;
END;
$$;

CREATE TRIGGER tickets_log_status
    AFTER UPDATE OF status ON tickets
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tickets_log_status();
