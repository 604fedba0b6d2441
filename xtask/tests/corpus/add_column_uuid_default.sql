-- expect: risky
-- form: named
-- why: gen_random_uuid() is volatile: each existing row gets its own value, so tickets is rewritten under ACCESS EXCLUSIVE
-- Purpose: Public ticket identifiers.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full rewrite of tickets.

ALTER TABLE tickets ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
