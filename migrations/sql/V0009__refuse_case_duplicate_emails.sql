-- Purpose: Emails become unique regardless of letter case (issue 15: `Agent1@Probe.Test` was
--   accepted beside `agent1@probe.test`). This step only checks the existing accounts: it refuses,
--   naming every email that more than one account holds in different cases and those accounts' ids,
--   so that V0010 can build its unique index on lower(email). It never merges, renames or deletes
--   an account: which one keeps the address is a person's decision.
-- Risk: Safe. One read of users under ACCESS SHARE, which blocks no read or write; it changes
--   nothing. The running application may still create a case-duplicate after this check and
--   before V0010's index is valid: V0010 then fails naming the duplicated address (its INVALID
--   index is dropped and rebuilt by the next `cargo xtask migrate`, after the accounts are resolved).
-- Rollback: Nothing to undo (V0009__refuse_case_duplicate_emails.down.sql is empty, acknowledged).
-- Performance: One scan and sort of users' emails: about a second per million accounts.
--   To resolve a refusal: give all but one account of each listed address another email (or
--   remove the accounts nobody uses), then run `cargo xtask migrate` again.

DO $$
DECLARE
    listed text;
    groups bigint;
BEGIN
    -- The first 100 addresses are enough to start resolving; the count says how many remain.
    SELECT count(*),
           string_agg(format('%s (user ids %s: %s)', address, ids, emails), '; ' ORDER BY address)
               FILTER (WHERE position <= 100)
      INTO groups, listed
      FROM (SELECT lower(email) AS address,
                   string_agg(id::text, ', ' ORDER BY id) AS ids,
                   string_agg(email, ', ' ORDER BY id) AS emails,
                   row_number() OVER (ORDER BY lower(email)) AS position
              FROM users
             GROUP BY lower(email)
            HAVING count(*) > 1) AS duplicated;
    IF groups > 0 THEN
        RAISE EXCEPTION '% email address(es) belong to more than one account when letter case is ignored: %',
            groups, listed || CASE WHEN groups > 100 THEN format('; and %s more', groups - 100) ELSE '' END
            USING ERRCODE = 'unique_violation',
                  HINT = 'give all but one account of each address another email (or remove the '
                      || 'unused ones), then migrate again; this migration never merges or deletes accounts';
    END IF;
END
$$;
