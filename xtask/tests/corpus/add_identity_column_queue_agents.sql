-- expect: risky
-- form: named
-- why: an identity column is filled for every existing row: full rewrite of queue_agents under ACCESS EXCLUSIVE
-- Purpose: A surrogate key for queue_agents.
-- Risk: Medium.
-- Rollback: Drop the column (down file).
-- Performance: Full rewrite.

ALTER TABLE queue_agents ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
