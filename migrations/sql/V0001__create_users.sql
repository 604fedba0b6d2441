-- Purpose: People who use Bomizzel: customers who raise tickets and agents who work them.
-- Risk: Low. Creates a new table; nothing reads or writes it yet.
-- Rollback: Drop the table (V0001__create_users.down.sql); no other object depends on it at this version.
-- Performance: None. A new, empty table.

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    display_name text NOT NULL,
    role text NOT NULL DEFAULT 'customer',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_format CHECK (email LIKE '%_@_%'),
    CONSTRAINT users_display_name_not_blank CHECK (btrim(display_name) <> ''),
    CONSTRAINT users_role_known CHECK (role IN ('customer', 'agent', 'admin'))
);

COMMENT ON TABLE users IS 'Customers raise tickets; agents and admins work them.';
