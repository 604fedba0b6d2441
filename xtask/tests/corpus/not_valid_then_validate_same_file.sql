-- expect: risky
-- form: named
-- why: in one transaction the ADD CONSTRAINT's ACCESS EXCLUSIVE lock is still held while VALIDATE scans tickets: reads and writes wait for the scan
-- Purpose: Titles must be trimmed.
-- Risk: Medium.
-- Rollback: Drop the constraint (down file).
-- Performance: Full scan of tickets under ACCESS EXCLUSIVE.

ALTER TABLE tickets ADD CONSTRAINT tickets_title_trimmed CHECK (title = btrim(title)) NOT VALID;
ALTER TABLE tickets VALIDATE CONSTRAINT tickets_title_trimmed;
