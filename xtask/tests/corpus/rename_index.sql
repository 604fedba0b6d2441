-- expect: safe
-- form: unnamed
-- why: ALTER INDEX ... RENAME takes SHARE UPDATE EXCLUSIVE (PostgreSQL 12+) and no query names an index
-- Purpose: Follow the naming convention for the assignee index.
-- Risk: Low. Catalog change.
-- Rollback: Rename it back (down file).
-- Performance: None.

ALTER INDEX tickets_assignee_id_idx RENAME TO tickets_assignee_idx;
