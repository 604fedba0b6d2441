-- expect: risky
-- form: named
-- why: VACUUM FULL rewrites comments under ACCESS EXCLUSIVE: no reads or writes for the whole rewrite
-- Purpose: Reclaim space after the spam purge.
-- Risk: High.
-- Rollback: None (down file is a comment).
-- Performance: Full rewrite of comments.
-- xtask: no-transaction

VACUUM FULL comments;
