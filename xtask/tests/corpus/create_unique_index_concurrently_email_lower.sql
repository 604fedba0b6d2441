-- expect: safe
-- form: named
-- why: a UNIQUE index built CONCURRENTLY blocks no reads or writes; at worst it fails on a duplicate and leaves an INVALID index
-- Purpose: Case-insensitive uniqueness of e-mail addresses, enforced by an index.
-- Risk: Low. Concurrent build; fails harmlessly on duplicates.
-- Rollback: DROP INDEX CONCURRENTLY (down file).
-- Performance: Two scans of users without blocking.
-- xtask: no-transaction

CREATE UNIQUE INDEX CONCURRENTLY users_lower_email_key ON users (lower(email));
