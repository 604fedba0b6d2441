-- expect: risky
-- form: named
-- why: the CHECK is NOT VALID, so it proves nothing: SET NOT NULL scans comments under ACCESS EXCLUSIVE (and the check's lock is held anyway)
-- Purpose: A new required column on comments.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full scan of comments under ACCESS EXCLUSIVE.

ALTER TABLE comments ADD COLUMN edited boolean DEFAULT false;
ALTER TABLE comments ADD CONSTRAINT comments_edited_not_null CHECK (edited IS NOT NULL) NOT VALID;
ALTER TABLE comments ALTER COLUMN edited SET NOT NULL;
