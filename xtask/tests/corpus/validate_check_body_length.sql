-- expect: safe
-- form: named
-- why: VALIDATE CONSTRAINT (of the NOT VALID check from add_check_not_valid_body_length) scans under SHARE UPDATE EXCLUSIVE: reads and writes continue
-- Purpose: Validate the comment length cap added NOT VALID by the previous migration.
-- Risk: Low. Scans comments without blocking reads or writes.
-- Rollback: Nothing to undo: the down file leaves the constraint (validated or not, it behaves the same for new rows).
-- Performance: One scan of comments, concurrent with traffic.

ALTER TABLE comments VALIDATE CONSTRAINT comments_body_length;
