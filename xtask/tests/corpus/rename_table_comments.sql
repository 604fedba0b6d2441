-- expect: multi-step
-- form: named
-- why: the running app reads and writes comments by that name: its queries fail after the rename
-- Purpose: Name tables after their parent.
-- Risk: High.
-- Rollback: Rename it back (down file).
-- Performance: Catalog only.

ALTER TABLE comments RENAME TO ticket_comments;
