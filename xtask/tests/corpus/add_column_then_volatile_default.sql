-- expect: safe
-- form: named
-- why: the column is added without default (catalog only), then SET DEFAULT gen_random_uuid() applies to new rows only: no rewrite, no scan
-- Purpose: Tickets get a public identifier that does not leak the row count.
-- Risk: Low. Old rows stay NULL until a batched backfill.
-- Rollback: Drop the column (down file).
-- Performance: None: the volatile default is never evaluated for existing rows.

ALTER TABLE tickets ADD COLUMN public_id uuid;
ALTER TABLE tickets ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
