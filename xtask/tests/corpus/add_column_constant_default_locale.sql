-- expect: safe
-- form: named
-- why: a constant default is stored in the catalog (PostgreSQL 11+): no rewrite, NOT NULL holds for old rows through it, the app's INSERTs need not name it
-- Purpose: Users get a locale for e-mail notifications, English unless chosen.
-- Risk: Low. Constant default: catalog-only change.
-- Rollback: Drop the column (down file).
-- Performance: None: the default is not written into existing rows.

ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';
