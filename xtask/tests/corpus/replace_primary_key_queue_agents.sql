-- expect: risky
-- form: named
-- why: dropping and re-adding the primary key rebuilds a unique index under ACCESS EXCLUSIVE: queue_agents is unreadable for the build
-- Purpose: Key queue_agents by (queue_id, user_id) to match the main access path.
-- Risk: Medium.
-- Rollback: Restore the old key (down file).
-- Performance: Index build under ACCESS EXCLUSIVE.

ALTER TABLE queue_agents DROP CONSTRAINT queue_agents_pkey, ADD PRIMARY KEY (queue_id, user_id);
