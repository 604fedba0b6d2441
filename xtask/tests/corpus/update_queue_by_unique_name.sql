-- expect: safe
-- form: named
-- why: WHERE name = 'billing' hits the unique index queues_name_key: one row
-- Purpose: Reword the billing queue's description.
-- Risk: Low. One row.
-- Rollback: Restore the old description (down file).
-- Performance: One index lookup.

UPDATE queues SET description = 'Invoices, refunds, failed payments, VAT questions' WHERE name = 'billing';
