-- expect: safe
-- form: unnamed
-- why: INSERT ... VALUES of three rows: row locks on new rows only, no scan; the app just sees more queues
-- Purpose: Create the standard queues every installation starts with.
-- Risk: Low. Three new rows.
-- Rollback: Delete the three queues by name (down file).
-- Performance: Three inserts.

INSERT INTO queues (name, description) VALUES
    ('billing', 'Invoices, refunds, payment failures'),
    ('technical', 'Bugs and outages'),
    ('general', 'Everything else')
ON CONFLICT (name) DO NOTHING;
