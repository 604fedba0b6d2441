-- expect: multi-step
-- form: named
-- why: the running app authenticates every request against api_tokens; dropping it breaks all API calls and destroys the tokens
-- Purpose: Tokens move to the identity provider.
-- Risk: High.
-- Rollback: Recreate the table empty (down file).
-- Performance: None.

DROP TABLE api_tokens;
