-- xtask: no-transaction
DROP INDEX CONCURRENTLY tickets_queue_priority_idx;
