-- expect: risky
-- form: named
-- why: DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on tickets: it waits behind running queries and every query queues behind it
-- Purpose: The assignee index is replaced by a partial one.
-- Risk: Medium.
-- Rollback: Recreate it (down file).
-- Performance: Catalog only, but under the strongest lock.

DROP INDEX tickets_assignee_id_idx;
