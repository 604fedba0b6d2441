-- expect: safe
-- form: named
-- why: a new table with foreign keys takes SHARE ROW EXCLUSIVE on tickets and users only to add the RI triggers: no scan, brief
-- Purpose: Users can watch tickets and get notified of replies.
-- Risk: Low. New table; foreign keys into existing tables check only new rows.
-- Rollback: Drop the table (down file).
-- Performance: None. A new, empty table.

CREATE TABLE ticket_watchers (
    ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, user_id)
);
