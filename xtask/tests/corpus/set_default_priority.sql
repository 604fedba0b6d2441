-- expect: safe
-- form: unnamed
-- why: SET DEFAULT changes the catalog only (brief ACCESS EXCLUSIVE, no scan); the app always passes priority explicitly
-- Purpose: New tickets default to priority 3 for API clients that omit it.
-- Risk: Low. Applies to future inserts only.
-- Rollback: SET DEFAULT 2 again (down file).
-- Performance: None.

ALTER TABLE tickets ALTER COLUMN priority SET DEFAULT 3;
