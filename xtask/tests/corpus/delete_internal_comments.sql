-- expect: risky
-- form: unnamed
-- why: deletes every internal note (a WHERE on a non-key boolean): millions of rows locked in one transaction, and the data is gone
-- Purpose: Internal notes move to the agent tool.
-- Risk: High. Data loss.
-- Rollback: None for the data (down file is a comment).
-- Performance: Deletes a large fraction of comments in one transaction.

DELETE FROM comments WHERE internal;
