-- expect: multi-step
-- form: unnamed
-- why: the running app inserts tickets without status and relies on the default 'open': with no default its inserts hit NOT NULL
-- Purpose: Status must be chosen explicitly by new clients.
-- Risk: High.
-- Rollback: SET DEFAULT 'open' (down file).
-- Performance: None.

ALTER TABLE tickets ALTER COLUMN status DROP DEFAULT;
