-- expect: safe
-- form: unnamed
-- why: CREATE TABLE ... (LIKE tickets) reads only tickets' catalog under ACCESS SHARE; no rows are copied
-- Purpose: A table to archive closed tickets into later, by a batched job.
-- Risk: Low. New empty table.
-- Rollback: Drop the table (down file).
-- Performance: None.

CREATE TABLE tickets_archive (LIKE tickets INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE tickets_archive ADD PRIMARY KEY (id);
