-- expect: safe
-- form: unnamed
-- why: ANALYZE takes SHARE UPDATE EXCLUSIVE and reads a sample: reads and writes continue
-- Purpose: Refresh statistics after the bulk import of last week.
-- Risk: Low. Reads a sample.
-- Rollback: Nothing to undo; the down file is a comment.
-- Performance: A few seconds of sampling reads.

ANALYZE tickets;
