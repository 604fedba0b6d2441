-- expect: safe
-- form: unnamed
-- why: function and trigger are created on a table this migration creates: nothing else reads or writes it, no lock on existing tables but the FK's brief one
-- Purpose: An append-only log of ticket events; a trigger stamps each row's sequence within its ticket.
-- Risk: Low. New table, function and trigger.
-- Rollback: Drop the trigger, the function and the table (down file).
-- Performance: None. New, empty table.

CREATE TABLE ticket_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind text NOT NULL,
    seq integer,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION ticket_events_number() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT coalesce(max(seq), 0) + 1 INTO NEW.seq FROM ticket_events WHERE ticket_id = NEW.ticket_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ticket_events_number
    BEFORE INSERT ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_number();
