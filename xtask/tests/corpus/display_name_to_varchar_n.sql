-- expect: risky
-- form: named
-- why: text -> varchar(100) is not binary-coercible (length check): users is rewritten under ACCESS EXCLUSIVE, and fails on longer names
-- Purpose: Limit display names to 100 characters.
-- Risk: Medium.
-- Rollback: Change it back to text (down file).
-- Performance: Full rewrite of users.

ALTER TABLE users ALTER COLUMN display_name TYPE varchar(100);
