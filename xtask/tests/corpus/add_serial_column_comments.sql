-- expect: risky
-- form: named
-- why: bigserial means a nextval() default: every row gets a value, so comments is rewritten under ACCESS EXCLUSIVE
-- Purpose: A global sequence number for comment sync.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full rewrite of comments.

ALTER TABLE comments ADD COLUMN sync_seq bigserial;
