-- expect: risky
-- form: unnamed
-- why: SET TABLESPACE copies every block of comments under ACCESS EXCLUSIVE: no reads or writes until done
-- Purpose: Move comments to the big disk.
-- Risk: High.
-- Rollback: Move it back (down file).
-- Performance: Full copy of the table.

ALTER TABLE comments SET TABLESPACE bulk_storage;
