-- expect: safe
-- form: unnamed
-- why: SET STATISTICS takes SHARE UPDATE EXCLUSIVE: reads and writes continue
-- Purpose: Better estimates for the skewed status column in the queue views.
-- Risk: Low. Planner setting only.
-- Rollback: SET STATISTICS -1 (down file).
-- Performance: The next ANALYZE samples more rows.

ALTER TABLE tickets ALTER COLUMN status SET STATISTICS 1000;
