-- expect: risky
-- form: unnamed
-- why: the DELETE in the WITH query filters on revoked_at (non-key): a large delete in one transaction, data gone
-- Purpose: Purge tokens revoked more than a year ago.
-- Risk: Medium. Data loss, intended.
-- Rollback: None (down file is a comment).
-- Performance: Deletes many rows in one transaction.

WITH gone AS (
    DELETE FROM api_tokens WHERE revoked_at < now() - interval '1 year' RETURNING id
)
SELECT count(*) FROM gone;
