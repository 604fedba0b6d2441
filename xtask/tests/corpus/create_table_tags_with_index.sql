-- expect: safe
-- form: named
-- why: a plain CREATE INDEX on a table created in the same migration is instant: the table is empty and nobody else can see it yet
-- Purpose: Free-form tags on tickets.
-- Risk: Low. New tables and their indexes.
-- Rollback: Drop the tables (down file).
-- Performance: None. New, empty tables.

CREATE TABLE tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE ticket_tags (
    ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, tag_id)
);

CREATE INDEX ticket_tags_tag_id_idx ON ticket_tags (tag_id);
