-- Purpose: Priority-based queue sorting: an agent's queue view lists unfinished tickets, most
--   urgent first, oldest first within a priority.
-- Risk: Low. CREATE INDEX CONCURRENTLY takes no lock that blocks reads or writes of tickets.
-- Rollback: DROP INDEX CONCURRENTLY (V0005__index_tickets_queue_priority.down.sql).
-- Performance: Builds while traffic runs (two table scans); if it fails it leaves an INVALID
--   index, which the next `cargo xtask migrate` drops and rebuilds.
-- xtask: no-transaction

CREATE INDEX CONCURRENTLY tickets_queue_priority_idx
    ON tickets (queue_id, priority DESC, created_at, id)
    WHERE status IN ('open', 'in_progress');
