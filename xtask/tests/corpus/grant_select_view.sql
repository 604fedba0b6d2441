-- expect: safe
-- form: unnamed
-- why: GRANT changes only the privilege catalog: no table lock beyond an instant, nothing the running app uses is removed
-- Purpose: Let read-only reporting sessions query the open-tickets view.
-- Risk: None. Adds a privilege.
-- Rollback: REVOKE it (down file).
-- Performance: None.

GRANT SELECT ON open_tickets_by_queue TO PUBLIC;
COMMENT ON VIEW open_tickets_by_queue IS 'Readable by reporting roles.';
