-- expect: safe
-- form: named
-- why: CHECK ... NOT VALID only records the constraint (brief ACCESS EXCLUSIVE, no scan); the running app never writes bodies that long
-- Purpose: Cap comment bodies at 20000 characters so one paste cannot bloat a ticket page.
-- Risk: Low. NOT VALID: existing rows are not checked now.
-- Rollback: Drop the constraint (down file).
-- Performance: None; validated separately.

ALTER TABLE comments ADD CONSTRAINT comments_body_length CHECK (char_length(body) <= 20000) NOT VALID;
