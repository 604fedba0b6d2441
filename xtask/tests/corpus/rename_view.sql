-- expect: multi-step
-- form: named
-- why: reports and agents' queue views query open_tickets_by_queue by name: they fail after the rename
-- Purpose: Shorter name.
-- Risk: High.
-- Rollback: Rename it back (down file).
-- Performance: Catalog only.

ALTER VIEW open_tickets_by_queue RENAME TO open_tickets;
