-- Reverts V0010__index_users_lower_email.sql.
-- xtask: no-transaction
DROP INDEX CONCURRENTLY users_email_lower_key;
