-- expect: multi-step
-- form: unnamed
-- why: a conditional DO INSTEAD rule on tickets makes the running app's INSERT ... RETURNING fail
-- Purpose: Route tickets created closed straight to the archive.
-- Risk: High.
-- Rollback: Drop the rule (down file).
-- Performance: None.

CREATE TABLE tickets_imported_closed (LIKE tickets INCLUDING DEFAULTS);

CREATE RULE tickets_closed_to_archive AS ON INSERT TO tickets
    WHERE NEW.status = 'closed'
    DO INSTEAD INSERT INTO tickets_imported_closed SELECT NEW.*;
