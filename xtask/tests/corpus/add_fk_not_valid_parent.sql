-- expect: safe
-- form: named
-- why: new nullable column (catalog only) and a NOT VALID foreign key: SHARE ROW EXCLUSIVE on tickets for an instant, no scan of existing rows
-- Purpose: Tickets can be split: a child ticket points at its parent.
-- Risk: Low. The foreign key checks new rows only until validated later.
-- Rollback: Drop the constraint and the column (down file).
-- Performance: None now; validation comes in a later migration.

ALTER TABLE tickets ADD COLUMN parent_id bigint;
ALTER TABLE tickets ADD CONSTRAINT tickets_parent_id_fkey
    FOREIGN KEY (parent_id) REFERENCES tickets (id) NOT VALID;
