-- Purpose: Which agents work which queues: agents see and work the tickets of their queues only.
-- Risk: Low. Creates a new table; both foreign keys are checked as rows arrive.
-- Rollback: Drop the table (V0008__create_queue_agents.down.sql); agents lose their queue access.
-- Performance: None. A new, empty table; the primary key serves "queues of this agent".

CREATE TABLE queue_agents (
    queue_id bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, queue_id)
);

CREATE INDEX queue_agents_queue_id_idx ON queue_agents (queue_id);
