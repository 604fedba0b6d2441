-- Purpose: One account per email regardless of letter case: a unique index on lower(email).
--   Concurrent registrations of `A@x.test` and `a@x.test` can no longer both succeed (the backend
--   answers the loser 409), and it serves lookups by `lower(email)`. The case-sensitive constraint
--   users_email_key stays: the new index implies it, so it never refuses anything more, and
--   dropping it would only buy a little write time for an ACCESS EXCLUSIVE lock and a rollback
--   that has to rebuild it.
-- Risk: Safe. CREATE UNIQUE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE on users, which
--   blocks no read or write. V0009 refused existing case-duplicates; one created since then makes
--   this build fail naming it (`Key (lower(email))=(...) is duplicated`), leaving an INVALID index
--   that the next `cargo xtask migrate` drops and builds again once the accounts are resolved.
-- Rollback: DROP INDEX CONCURRENTLY (V0010__index_users_lower_email.down.sql); case variants of
--   an email can be registered again. No data is lost.
-- Performance: Two scans of users and a sort of the lower-cased emails while traffic runs: seconds
--   per million accounts. It waits for transactions already writing users to finish.
-- xtask: no-transaction

CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email));
