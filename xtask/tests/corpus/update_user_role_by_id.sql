-- expect: safe
-- form: named
-- why: UPDATE ... WHERE id = 42 touches one row through the primary key: one row lock for milliseconds
-- Purpose: Promote the support lead's account (user 42) to admin.
-- Risk: Low. One row.
-- Rollback: Set the role back to agent (down file).
-- Performance: One index lookup.

UPDATE users SET role = 'admin' WHERE id = 42;
