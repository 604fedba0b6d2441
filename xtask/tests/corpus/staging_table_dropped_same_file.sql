-- expect: safe
-- form: named
-- why: the table dropped was created earlier in this same file; the only touch of an existing table is a one-row UPDATE by primary key
-- Purpose: Recompute the name of queue 3 through a staging table used by the import tool.
-- Risk: Low. Scratch table; one row updated.
-- Rollback: Nothing to undo beyond the queue name (down file).
-- Performance: Trivial.

CREATE TABLE queue_rename_staging (queue_id bigint PRIMARY KEY, new_name text NOT NULL);
INSERT INTO queue_rename_staging VALUES (3, 'technical-support');
UPDATE queues SET name = s.new_name FROM queue_rename_staging s WHERE queues.id = s.queue_id AND queues.id = 3;
DROP TABLE queue_rename_staging;
