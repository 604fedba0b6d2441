-- expect: safe
-- form: named
-- why: PostgreSQL 15 does not validate a foreign key on a column added by the same statement (all NULL): no scan, seen by the trace (pg_stat_xact seq_scan unchanged); ACCESS EXCLUSIVE for a catalog change only
-- Purpose: Tickets can be merged into another.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: A scan of tickets.

ALTER TABLE tickets ADD COLUMN merged_into_id bigint REFERENCES tickets (id);
