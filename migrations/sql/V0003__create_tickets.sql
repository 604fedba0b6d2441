-- Purpose: Tickets, the heart of the system: who asked, who works it, in which queue, how urgent.
-- Risk: Low. Creates a new table, its indexes and its trigger; the foreign keys point at tables
--   that are still small, and a new table's constraints are checked row by row as rows arrive.
-- Rollback: Drop the trigger, the function and the table (V0003__create_tickets.down.sql).
-- Performance: None at creation. Status and priority are text and smallint with CHECKs rather than
--   enum types, so later value changes need no ALTER TYPE.

CREATE TABLE tickets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'open',
    priority smallint NOT NULL DEFAULT 2,
    requester_id bigint NOT NULL REFERENCES users (id),
    assignee_id bigint REFERENCES users (id),
    queue_id bigint NOT NULL REFERENCES queues (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tickets_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT tickets_status_known CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    CONSTRAINT tickets_priority_range CHECK (priority BETWEEN 0 AND 4)
);

COMMENT ON COLUMN tickets.priority IS '0 = lowest, 4 = most urgent.';

-- Foreign keys are not indexed by PostgreSQL itself; these serve "my tickets" lookups and let
-- deletes of users and queues check references without scanning tickets.
CREATE INDEX tickets_requester_id_idx ON tickets (requester_id);
CREATE INDEX tickets_assignee_id_idx ON tickets (assignee_id);

CREATE FUNCTION tickets_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER tickets_touch_updated_at
    BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_touch_updated_at();
