-- expect: risky
-- form: named
-- why: ADD CONSTRAINT CHECK without NOT VALID scans tickets under ACCESS EXCLUSIVE: no reads or writes meanwhile
-- Purpose: Cap ticket titles at 300 characters.
-- Risk: Medium.
-- Rollback: Drop the constraint (down file).
-- Performance: Full scan of tickets under the strongest lock.

ALTER TABLE tickets ADD CONSTRAINT tickets_title_length CHECK (char_length(title) <= 300);
