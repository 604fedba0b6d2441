-- expect: risky
-- form: unnamed
-- why: the function the migration defines and calls updates every user in the migration's transaction
-- Purpose: Normalise all e-mail addresses to lower case.
-- Risk: Medium.
-- Rollback: None (down file is a comment).
-- Performance: Updates every user in one transaction.

CREATE FUNCTION normalise_emails() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    UPDATE users SET email = lower(email) WHERE email <> lower(email);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END;
$$;

SELECT normalise_emails();
DROP FUNCTION normalise_emails();
