-- expect: safe
-- form: named
-- why: DELETE ... WHERE id = 7 removes one leaked token by primary key: one row, no scan
-- Purpose: Remove API token 7, published by mistake in a support chat.
-- Risk: Low. One row; the token must stop working.
-- Rollback: None possible for the token itself; the down file is a no-op comment.
-- Performance: One index lookup.

DELETE FROM api_tokens WHERE id = 7;
