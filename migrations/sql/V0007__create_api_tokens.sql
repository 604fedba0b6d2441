-- Purpose: Bearer API tokens for the HTTP API. Only a SHA-256 hash of each token is stored, so a
--   copy of the database gives nobody a working token.
-- Risk: Low. Creates a new table; the foreign key to users is checked as rows arrive.
-- Rollback: Drop the table (V0007__create_api_tokens.down.sql); every issued token stops working.
-- Performance: None. A new, empty table; lookups go through the unique index on the hash.

CREATE TABLE api_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_sha256 bytea NOT NULL,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT api_tokens_hash_length CHECK (octet_length(token_sha256) = 32)
);

CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
