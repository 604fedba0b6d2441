-- expect: risky
-- form: unnamed
-- why: ATTACH PARTITION scans all of comments to check the partition bound while holding ACCESS EXCLUSIVE on it
-- Purpose: Start partitioning comments by month: the existing table becomes the first partition.
-- Risk: High.
-- Rollback: DETACH it and drop the parent (down file).
-- Performance: Full scan of comments under ACCESS EXCLUSIVE.

CREATE TABLE comments_partitioned (
    id bigint NOT NULL,
    ticket_id bigint NOT NULL,
    author_id bigint NOT NULL,
    body text NOT NULL,
    internal boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);

ALTER TABLE comments_partitioned ATTACH PARTITION comments
    FOR VALUES FROM (MINVALUE) TO ('2026-01-01');
