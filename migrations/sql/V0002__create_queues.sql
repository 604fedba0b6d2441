-- Purpose: Queues group tickets by team (billing, support, ...) so agents see their own work.
-- Risk: Low. Creates a new table.
-- Rollback: Drop the table (V0002__create_queues.down.sql).
-- Performance: None. A new, empty table.

CREATE TABLE queues (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_name_key UNIQUE (name),
    CONSTRAINT queues_name_not_blank CHECK (btrim(name) <> '')
);
