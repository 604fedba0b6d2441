-- expect: risky
-- form: named
-- why: non-concurrent CREATE UNIQUE INDEX locks users in SHARE mode for the build: sign-ups and profile updates wait
-- Purpose: Case-insensitive e-mail uniqueness.
-- Risk: Medium. Index build.
-- Rollback: Drop the index (down file).
-- Performance: Full scan of users.

CREATE UNIQUE INDEX users_lower_email_key ON users (lower(email));
