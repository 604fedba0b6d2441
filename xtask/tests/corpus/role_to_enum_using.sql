-- expect: multi-step
-- form: named
-- why: text -> enum rewrites users under ACCESS EXCLUSIVE, and the running app decodes role as a string and binds text parameters, which fail on the enum
-- Purpose: A real type for user roles.
-- Risk: High.
-- Rollback: Change it back to text (down file).
-- Performance: Full rewrite of users and its indexes.

CREATE TYPE user_role AS ENUM ('customer', 'agent', 'admin');
ALTER TABLE users DROP CONSTRAINT users_role_known;
ALTER TABLE users ALTER COLUMN role DROP DEFAULT;
ALTER TABLE users ALTER COLUMN role TYPE user_role USING role::user_role;
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'customer';
