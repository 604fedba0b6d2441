-- Purpose: Comments on tickets, public replies and agents' internal notes.
-- Risk: Low. Creates a new table; the foreign key to tickets is checked as rows arrive.
-- Rollback: Drop the table (V0004__create_comments.down.sql).
-- Performance: None. A new, empty table and its index.

CREATE TABLE comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id bigint NOT NULL REFERENCES users (id),
    body text NOT NULL,
    internal boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT comments_body_not_blank CHECK (btrim(body) <> '')
);

CREATE INDEX comments_ticket_id_created_at_idx ON comments (ticket_id, created_at);
