-- expect: safe
-- form: unnamed
-- why: dropping a CHECK only loosens: brief ACCESS EXCLUSIVE, no scan, nothing the running app writes is rejected
-- Purpose: Allow blank display names for users created by the SSO import.
-- Risk: Low. Loosens a constraint.
-- Rollback: Re-add it NOT VALID (down file).
-- Performance: None.

ALTER TABLE users DROP CONSTRAINT users_display_name_not_blank;
