-- expect: safe
-- form: unnamed
-- why: a new type is catalog-only and nothing uses it yet
-- Purpose: A type for the channel a ticket came from, used by the next migrations.
-- Risk: None. New type.
-- Rollback: Drop the type (down file).
-- Performance: None.

CREATE TYPE ticket_channel AS ENUM ('web', 'email', 'api', 'phone');
