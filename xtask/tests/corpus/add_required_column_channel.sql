-- expect: multi-step
-- form: named
-- why: NOT NULL without default: it fails on existing rows, and the running app's INSERT INTO tickets (which does not name channel) would fail
-- Purpose: Every ticket records its channel.
-- Risk: High.
-- Rollback: Drop the column (down file).
-- Performance: Catalog only, if it succeeded.

ALTER TABLE tickets ADD COLUMN channel text NOT NULL;
