-- Records the unqualified names of the objects each DDL command touches, so a rollback
-- round-trip can check that its snapshots (scoped to the names a migration's SQL mentions)
-- covered everything the migration changed. '*' means "could not tell".
CREATE SCHEMA bomizzel_roundtrip;
CREATE TABLE bomizzel_roundtrip.touched (name text NOT NULL);
-- A dropped index or sequence can no longer be looked up when sql_drop fires: remember each
-- one's table while it exists.
CREATE TABLE bomizzel_roundtrip.owned_by (relation text PRIMARY KEY, owner text NOT NULL);

CREATE FUNCTION bomizzel_roundtrip.record_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Off while a script runs again whose first run was already recorded (the re-up).
    IF current_setting('bomizzel.record', true) = 'off' THEN
        RETURN;
    END IF;
    INSERT INTO bomizzel_roundtrip.touched (name)
    SELECT coalesce(CASE c.classid
        WHEN 'pg_class'::regclass THEN
            (SELECT coalesce(index_owner.relname, sequence_owner.relname, r.relname)::text
             FROM pg_class r
             LEFT JOIN pg_index i ON i.indexrelid = r.oid
             LEFT JOIN pg_class index_owner ON index_owner.oid = i.indrelid
             LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = r.oid
                                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                                  AND r.relkind = 'S'
             LEFT JOIN pg_class sequence_owner ON sequence_owner.oid = d.refobjid
             WHERE r.oid = c.objid
             LIMIT 1)
        WHEN 'pg_proc'::regclass THEN (SELECT proname::text FROM pg_proc WHERE oid = c.objid)
        WHEN 'pg_type'::regclass THEN
            (SELECT coalesce(rel.relname, t.typname)::text FROM pg_type t
             LEFT JOIN pg_class rel ON rel.oid = t.typrelid WHERE t.oid = c.objid)
        WHEN 'pg_constraint'::regclass THEN
            (SELECT coalesce(rel.relname, typ.typname)::text FROM pg_constraint co
             LEFT JOIN pg_class rel ON rel.oid = co.conrelid
             LEFT JOIN pg_type typ ON typ.oid = co.contypid WHERE co.oid = c.objid)
        WHEN 'pg_trigger'::regclass THEN
            (SELECT rel.relname::text FROM pg_trigger tg JOIN pg_class rel ON rel.oid = tg.tgrelid
             WHERE tg.oid = c.objid)
        WHEN 'pg_policy'::regclass THEN
            (SELECT rel.relname::text FROM pg_policy po JOIN pg_class rel ON rel.oid = po.polrelid
             WHERE po.oid = c.objid)
        WHEN 'pg_rewrite'::regclass THEN
            (SELECT rel.relname::text FROM pg_rewrite ru JOIN pg_class rel ON rel.oid = ru.ev_class
             WHERE ru.oid = c.objid)
        WHEN 'pg_attrdef'::regclass THEN
            (SELECT rel.relname::text FROM pg_attrdef ad JOIN pg_class rel ON rel.oid = ad.adrelid
             WHERE ad.oid = c.objid)
        WHEN 'pg_namespace'::regclass THEN (SELECT nspname::text FROM pg_namespace WHERE oid = c.objid)
        WHEN 'pg_extension'::regclass THEN (SELECT extname::text FROM pg_extension WHERE oid = c.objid)
    END, '*')
    FROM pg_event_trigger_ddl_commands() c;

    -- The indexes and sequences of the tables this command reported (or of the table of the
    -- index it reported), looked up by oid: the cost follows the command, not the schema.
    INSERT INTO bomizzel_roundtrip.owned_by (relation, owner)
    SELECT DISTINCT ON (owned.relname) owned.relname, owner.relname
    FROM pg_event_trigger_ddl_commands() c
    JOIN pg_class reported ON c.classid = 'pg_class'::regclass AND reported.oid = c.objid
    LEFT JOIN pg_index reported_index ON reported_index.indexrelid = reported.oid
    JOIN pg_class owner ON owner.oid = coalesce(reported_index.indrelid, reported.oid)
    CROSS JOIN LATERAL (
        SELECT i.indexrelid AS oid FROM pg_index i WHERE i.indrelid = owner.oid
        UNION ALL
        SELECT d.objid FROM pg_depend d
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = owner.oid
          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    ) link
    JOIN pg_class owned ON owned.oid = link.oid AND owned.relkind IN ('i', 'I', 'S')
    ORDER BY owned.relname
    ON CONFLICT (relation) DO UPDATE SET owner = EXCLUDED.owner;
END
$$;

CREATE FUNCTION bomizzel_roundtrip.record_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bomizzel.record', true) = 'off' THEN
        RETURN;
    END IF;
    INSERT INTO bomizzel_roundtrip.touched (name)
    SELECT coalesce(CASE
        WHEN d.object_type IN ('index', 'sequence')
            THEN coalesce((SELECT owner FROM bomizzel_roundtrip.owned_by
                           WHERE relation = d.object_name), d.object_name)
        WHEN d.object_type IN ('table', 'view', 'materialized view', 'foreign table',
                               'composite type', 'schema', 'extension')
            THEN d.object_name
        WHEN d.object_type IN ('table constraint', 'trigger', 'policy', 'rule', 'table column',
                               'default value')
             AND cardinality(d.address_names) >= 3
            THEN d.address_names[2]
        WHEN d.object_type IN ('function', 'procedure', 'aggregate')
            THEN d.address_names[cardinality(d.address_names)]
        -- A table's row type and array type go with it: `public.t`, `public.t[]`.
        WHEN d.object_type = 'type'
            THEN regexp_replace(regexp_replace(d.object_identity, '(\[\])+$', ''), '^.*\.', '')
    END, '*')
    FROM pg_event_trigger_dropped_objects() d
    WHERE NOT d.is_temporary AND d.schema_name IS DISTINCT FROM 'pg_toast';
END
$$;

CREATE EVENT TRIGGER bomizzel_roundtrip_ddl ON ddl_command_end
    EXECUTE FUNCTION bomizzel_roundtrip.record_ddl();
CREATE EVENT TRIGGER bomizzel_roundtrip_drop ON sql_drop
    EXECUTE FUNCTION bomizzel_roundtrip.record_drop();
