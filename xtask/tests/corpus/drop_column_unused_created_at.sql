-- expect: risky
-- form: named
-- why: DROP COLUMN destroys the data for good (the running app does not read users.created_at, so nothing breaks, but the rollback cannot bring it back)
-- Purpose: users.created_at is unused since the audit log took over.
-- Risk: Medium. Data loss.
-- Rollback: Re-add the column empty (down file); values are lost.
-- Performance: Catalog only.

ALTER TABLE users DROP COLUMN created_at;
