-- expect: risky
-- form: unnamed
-- why: SET ACCESS METHOD rewrites api_tokens under ACCESS EXCLUSIVE: every authenticated request waits
-- Purpose: Try the columnar access method.
-- Risk: High.
-- Rollback: SET ACCESS METHOD heap (down file).
-- Performance: Full rewrite.

ALTER TABLE api_tokens SET ACCESS METHOD columnar;
