-- expect: risky
-- form: named
-- why: a STORED generated column is computed for every existing row: full rewrite of tickets under ACCESS EXCLUSIVE
-- Purpose: Full-text search over ticket titles and descriptions.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full rewrite of tickets.

ALTER TABLE tickets ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || description)) STORED;
