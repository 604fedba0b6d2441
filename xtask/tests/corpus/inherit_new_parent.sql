-- expect: safe
-- form: unnamed
-- why: INHERIT compares catalogs only (no scan); ACCESS EXCLUSIVE on comments for an instant; the parent is new and nobody queries it yet
-- Purpose: Start the comment history hierarchy: comments becomes a child of a new parent for reporting.
-- Risk: Low. Catalog change.
-- Rollback: NO INHERIT and drop the parent (down file).
-- Performance: None.

CREATE TABLE comments_all (
    id bigint NOT NULL,
    ticket_id bigint NOT NULL,
    author_id bigint NOT NULL,
    body text NOT NULL,
    internal boolean NOT NULL,
    created_at timestamptz NOT NULL
);

ALTER TABLE comments INHERIT comments_all;
