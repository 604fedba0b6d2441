DROP TRIGGER tickets_touch_updated_at ON tickets;
DROP FUNCTION tickets_touch_updated_at();
DROP TABLE tickets;
