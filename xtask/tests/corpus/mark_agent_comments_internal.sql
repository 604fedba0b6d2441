-- expect: risky
-- form: unnamed
-- why: UPDATE ... FROM users with a WHERE on role (non-key) touches most comments in one transaction
-- Purpose: Comments by agents were internal notes in the old tool.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Updates a large part of comments in one transaction.

UPDATE comments c SET internal = true
FROM users u
WHERE u.id = c.author_id AND u.role = 'agent' AND NOT c.internal;
