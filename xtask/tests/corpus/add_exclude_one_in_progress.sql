-- expect: risky
-- form: unnamed
-- why: ADD EXCLUDE builds an index and checks all rows under ACCESS EXCLUSIVE on tickets
-- Purpose: An agent works one ticket at a time.
-- Risk: High.
-- Rollback: Drop the constraint (down file).
-- Performance: Index build under ACCESS EXCLUSIVE.

ALTER TABLE tickets ADD CONSTRAINT tickets_one_in_progress_per_agent
    EXCLUDE USING btree (assignee_id WITH =) WHERE (status = 'in_progress');
