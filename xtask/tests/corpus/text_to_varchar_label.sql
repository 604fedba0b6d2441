-- expect: safe
-- form: named
-- why: text -> varchar (no length) is binary-coercible: no rewrite, no index rebuild, only a brief ACCESS EXCLUSIVE; the app reads and writes it as a string either way
-- Purpose: Align api_tokens.label with the API schema, which declares it a varchar.
-- Risk: Low. Binary-coercible type change.
-- Rollback: Change the type back to text (down file).
-- Performance: None: catalog only.

ALTER TABLE api_tokens ALTER COLUMN label TYPE varchar;
