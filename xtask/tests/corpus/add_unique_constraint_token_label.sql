-- expect: risky
-- form: named
-- why: ADD CONSTRAINT UNIQUE builds its index while writes to api_tokens wait (no CONCURRENTLY possible this way)
-- Purpose: A user's token labels must be distinct.
-- Risk: Medium.
-- Rollback: Drop the constraint (down file).
-- Performance: Index build over api_tokens.

ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_user_label_key UNIQUE (user_id, label);
