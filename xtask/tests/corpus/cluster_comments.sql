-- expect: risky
-- form: named
-- why: CLUSTER rewrites comments in index order under ACCESS EXCLUSIVE
-- Purpose: Physically order comments by ticket for faster ticket pages.
-- Risk: High.
-- Rollback: None (down file is a comment).
-- Performance: Full rewrite of comments.

CLUSTER comments USING comments_ticket_id_created_at_idx;
