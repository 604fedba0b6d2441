-- Records which objects each DDL command touches, as the qualified names Snapshot::read takes,
-- so a rollback round-trip compares only what a migration changed (O(size of the migration),
-- not O(size of the schema)). '*' means "could not tell: compare everything".
CREATE SCHEMA bomizzel_roundtrip;
CREATE TABLE bomizzel_roundtrip.touched (name text NOT NULL);
-- A dropped index can no longer be looked up when sql_drop fires: remember each index's table
-- while it exists.
CREATE TABLE bomizzel_roundtrip.index_owner (index_name text PRIMARY KEY, owner text NOT NULL);

CREATE FUNCTION bomizzel_roundtrip.record_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bomizzel_roundtrip.touched (name)
    SELECT coalesce(CASE c.classid
        WHEN 'pg_class'::regclass THEN
            (SELECT format('%I.%I', n.nspname, coalesce(owner.relname, r.relname))
             FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
             LEFT JOIN pg_index i ON i.indexrelid = r.oid
             LEFT JOIN pg_class owner ON owner.oid = i.indrelid
             WHERE r.oid = c.objid)
        WHEN 'pg_proc'::regclass THEN
            (SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = c.objid)
        WHEN 'pg_type'::regclass THEN
            (SELECT format('%I.%I', n.nspname, coalesce(rel.relname, t.typname)) FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace
             LEFT JOIN pg_class rel ON rel.oid = t.typrelid WHERE t.oid = c.objid)
        WHEN 'pg_constraint'::regclass THEN
            (SELECT format('%I.%I', n.nspname, coalesce(rel.relname, typ.typname)) FROM pg_constraint co
             JOIN pg_namespace n ON n.oid = co.connamespace
             LEFT JOIN pg_class rel ON rel.oid = co.conrelid
             LEFT JOIN pg_type typ ON typ.oid = co.contypid WHERE co.oid = c.objid)
        WHEN 'pg_trigger'::regclass THEN
            (SELECT format('%I.%I', n.nspname, rel.relname) FROM pg_trigger tg
             JOIN pg_class rel ON rel.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
             WHERE tg.oid = c.objid)
        WHEN 'pg_policy'::regclass THEN
            (SELECT format('%I.%I', n.nspname, rel.relname) FROM pg_policy po
             JOIN pg_class rel ON rel.oid = po.polrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
             WHERE po.oid = c.objid)
        WHEN 'pg_rewrite'::regclass THEN
            (SELECT format('%I.%I', n.nspname, rel.relname) FROM pg_rewrite ru
             JOIN pg_class rel ON rel.oid = ru.ev_class JOIN pg_namespace n ON n.oid = rel.relnamespace
             WHERE ru.oid = c.objid)
        WHEN 'pg_attrdef'::regclass THEN
            (SELECT format('%I.%I', n.nspname, rel.relname) FROM pg_attrdef ad
             JOIN pg_class rel ON rel.oid = ad.adrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
             WHERE ad.oid = c.objid)
        WHEN 'pg_namespace'::regclass THEN
            (SELECT quote_ident(nspname) FROM pg_namespace WHERE oid = c.objid)
        WHEN 'pg_extension'::regclass THEN
            (SELECT quote_ident(extname) FROM pg_extension WHERE oid = c.objid)
    END, '*')
    FROM pg_event_trigger_ddl_commands() c;

    INSERT INTO bomizzel_roundtrip.index_owner (index_name, owner)
    SELECT format('%I.%I', index_namespace.nspname, index_class.relname),
           format('%I.%I', table_namespace.nspname, table_class.relname)
    FROM pg_index i
    JOIN pg_class index_class ON index_class.oid = i.indexrelid
    JOIN pg_namespace index_namespace ON index_namespace.oid = index_class.relnamespace
    JOIN pg_class table_class ON table_class.oid = i.indrelid
    JOIN pg_namespace table_namespace ON table_namespace.oid = table_class.relnamespace
    WHERE format('%I.%I', table_namespace.nspname, table_class.relname)
          IN (SELECT name FROM bomizzel_roundtrip.touched)
    ON CONFLICT (index_name) DO UPDATE SET owner = EXCLUDED.owner;
END
$$;

CREATE FUNCTION bomizzel_roundtrip.record_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bomizzel_roundtrip.touched (name)
    SELECT CASE
        WHEN d.object_type = 'index'
            THEN coalesce((SELECT owner FROM bomizzel_roundtrip.index_owner
                           WHERE index_name = format('%I.%I', d.schema_name, d.object_name)),
                          format('%I.%I', d.schema_name, d.object_name))
        WHEN d.object_type IN ('table', 'view', 'materialized view', 'sequence', 'foreign table',
                               'composite type')
            THEN format('%I.%I', d.schema_name, d.object_name)
        WHEN d.object_type IN ('table constraint', 'trigger', 'policy', 'rule', 'table column',
                               'default value')
             AND cardinality(d.address_names) >= 3
            THEN format('%I.%I', d.address_names[1], d.address_names[2])
        WHEN d.object_type IN ('function', 'procedure', 'aggregate')
            THEN format('%I.%I', d.schema_name, d.address_names[cardinality(d.address_names)])
        WHEN d.object_type = 'type' THEN d.object_identity
        WHEN d.object_type IN ('schema', 'extension') THEN d.object_identity
        ELSE '*'
    END
    FROM pg_event_trigger_dropped_objects() d
    WHERE NOT d.is_temporary;
END
$$;

CREATE EVENT TRIGGER bomizzel_roundtrip_ddl ON ddl_command_end
    EXECUTE FUNCTION bomizzel_roundtrip.record_ddl();
CREATE EVENT TRIGGER bomizzel_roundtrip_drop ON sql_drop
    EXECUTE FUNCTION bomizzel_roundtrip.record_drop();
