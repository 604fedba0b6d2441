-- expect: safe
-- form: named
-- why: CREATE INDEX CONCURRENTLY outside a transaction takes SHARE UPDATE EXCLUSIVE: reads and writes continue during the build
-- Purpose: "Comments by this agent" lookups, and deletes of users, without scanning comments.
-- Risk: Low. Builds while traffic runs.
-- Rollback: DROP INDEX CONCURRENTLY (down file).
-- Performance: Two scans of comments, no blocking; a failed build leaves an INVALID index the engine rebuilds.
-- xtask: no-transaction

CREATE INDEX CONCURRENTLY comments_author_id_idx ON comments (author_id);
