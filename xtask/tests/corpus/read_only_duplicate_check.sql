-- expect: safe
-- form: unnamed
-- why: a DO block that only reads a table under ACCESS SHARE and raises: it writes nothing and blocks no read or write, however long it reads
-- Purpose: Refuse to go on while two accounts share an email ignoring case.
-- Risk: Safe: one read of users.
-- Rollback: Nothing to undo.
-- Performance: One scan of users.

DO $$
BEGIN
    IF EXISTS (SELECT FROM users GROUP BY lower(email) HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'case-duplicate emails';
    END IF;
END
$$;
