-- expect: safe
-- form: named
-- why: no-transaction DO block that updates by primary-key range and COMMITs every batch: each batch locks a few thousand rows for a moment, the strategy's batched data migration
-- Purpose: Backfill tickets.updated_at for rows imported with a bogus epoch timestamp.
-- Risk: Low. Batches of 5000 rows by key, each committed.
-- Rollback: None needed; the old values were wrong (down file is a comment).
-- Performance: Runs alongside traffic; each batch is short.
-- xtask: no-transaction

DO $$
DECLARE
    last_id bigint := 0;
    max_id bigint;
BEGIN
    SELECT coalesce(max(id), 0) INTO max_id FROM tickets;
    WHILE last_id < max_id LOOP
        UPDATE tickets SET updated_at = created_at
        WHERE id > last_id AND id <= last_id + 5000 AND updated_at < created_at;
        last_id := last_id + 5000;
        COMMIT;
    END LOOP;
END;
$$;
