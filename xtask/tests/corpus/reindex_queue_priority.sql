-- expect: risky
-- form: named
-- why: REINDEX without CONCURRENTLY blocks writes to tickets (and reads using the index) for the rebuild
-- Purpose: Fix the bloated queue index.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Index rebuild.

REINDEX INDEX tickets_queue_priority_idx;
