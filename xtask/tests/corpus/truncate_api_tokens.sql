-- expect: risky
-- form: named
-- why: TRUNCATE takes ACCESS EXCLUSIVE and destroys every token: the data cannot be rolled back
-- Purpose: Invalidate all tokens after the incident.
-- Risk: High. Every client must log in again.
-- Rollback: None for the data (down file is a comment).
-- Performance: Instant.

TRUNCATE api_tokens;
