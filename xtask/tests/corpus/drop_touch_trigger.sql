-- expect: multi-step
-- form: unnamed
-- why: the running app's ticket UPDATEs do not set updated_at; they rely on this trigger, so its removal silently breaks the running version
-- Purpose: The new release sets updated_at itself.
-- Risk: Medium.
-- Rollback: Recreate the trigger (down file).
-- Performance: None.

DROP TRIGGER tickets_touch_updated_at ON tickets;
DROP FUNCTION tickets_touch_updated_at();
