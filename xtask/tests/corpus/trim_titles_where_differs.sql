-- expect: risky
-- form: unnamed
-- why: the WHERE on a computed non-key condition still scans all of tickets and may update many rows in one transaction
-- Purpose: Strip stray whitespace from titles.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Full scan and possibly many updates in one transaction.

UPDATE tickets SET title = btrim(title) WHERE title <> btrim(title);
