-- One row per (object, attribute) of the schema, read from the catalogs. Ownership and
-- privileges are left out on purpose: they differ between environments.
-- `/*ALL*/` is replaced by TRUE to read the whole schema, or by FALSE to read only the objects
-- whose unqualified names are in $1 (a table also when one of its indexes is named); the
-- scoped form looks objects up through the catalogs' indexes, so its cost follows the size of
-- the scope, not of the schema.
WITH namespaces AS (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bomizzel_roundtrip')
      AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
),
relations AS (
    SELECT c.oid, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
           format('%I.%I', n.nspname, c.relname) AS qualified,
           CASE c.relkind
               WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
               WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
               WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'type'
           END || ' ' || CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname)
                              ELSE format('%I.%I', n.nspname, c.relname) END AS object
    FROM pg_class c
    JOIN namespaces n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
      AND NOT (n.nspname = 'public' AND c.relname IN ('refinery_schema_history', 'bomizzel_migration_state',
                                                       'bomizzel_backfill_progress'))
      AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
      -- Sequences behind identity columns are part of their column.
      AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                     AND d.objid = c.oid AND d.deptype = 'i'))
      -- The relations named, and the tables of the indexes named; ANY (ARRAY(...)) keeps both
      -- lookups on the catalogs' indexes in a generic plan.
      AND (/*ALL*/ OR c.oid = ANY (ARRAY(
              SELECT named.oid FROM pg_class named WHERE named.relname = ANY ($1::text[])
              UNION
              SELECT i.indrelid FROM pg_index i
              WHERE i.indexrelid = ANY (ARRAY(SELECT named.oid FROM pg_class named
                                              WHERE named.relname = ANY ($1::text[]))))))
),
columns AS (
    SELECT r.object, a.attnum, a.attname, a.attnotnull, a.attidentity, a.attgenerated,
           format_type(a.atttypid, a.atttypmod) AS type,
           pg_get_expr(ad.adbin, ad.adrelid) AS expression,
           CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
           col_description(r.oid, a.attnum) AS comment
    FROM relations r
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    WHERE r.relkind <> 'S'
),
types AS (
    SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, t.typnotnull, t.typdefault,
           'type ' || CASE WHEN n.nspname = 'public' THEN quote_ident(t.typname)
                           ELSE format('%I.%I', n.nspname, t.typname) END AS object
    FROM pg_type t JOIN namespaces n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')
      AND (/*ALL*/ OR t.typname = ANY ($1::text[]))
),
functions AS (
    SELECT p.oid, p.prokind, p.prorettype,
           format('%s %s(%s)',
                  CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                                 WHEN 'w' THEN 'window function' ELSE 'function' END,
                  CASE WHEN n.nspname = 'public' THEN quote_ident(p.proname)
                       ELSE format('%I.%I', n.nspname, p.proname) END,
                  pg_get_function_identity_arguments(p.oid)) AS object
    FROM pg_proc p JOIN namespaces n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
      AND (/*ALL*/ OR p.proname = ANY ($1::text[]))
)
SELECT format('schema %I', n.nspname), 'exists', 'yes'
FROM namespaces n
WHERE NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass AND e.objid = n.oid AND e.deptype = 'e')
  AND (/*ALL*/ OR n.nspname = ANY ($1::text[]))
UNION ALL
SELECT format('schema %I', n.nspname), 'comment', obj_description(n.oid, 'pg_namespace')
FROM namespaces n
WHERE obj_description(n.oid, 'pg_namespace') IS NOT NULL
  AND n.nspname <> 'public'
  AND (/*ALL*/ OR n.nspname = ANY ($1::text[]))
UNION ALL
SELECT r.object, 'exists', 'yes' FROM relations r
UNION ALL
SELECT r.object, 'unlogged', 'yes' FROM relations r WHERE r.relpersistence = 'u'
UNION ALL
SELECT r.object, 'row level security',
       CASE WHEN r.relforcerowsecurity THEN 'enabled, forced' ELSE 'enabled' END
FROM relations r WHERE r.relrowsecurity
UNION ALL
SELECT r.object, 'options', array_to_string(r.reloptions, ', ') FROM relations r WHERE r.reloptions IS NOT NULL
UNION ALL
SELECT r.object, 'comment', obj_description(r.oid, 'pg_class')
FROM relations r WHERE obj_description(r.oid, 'pg_class') IS NOT NULL
UNION ALL
SELECT r.object, 'definition', pg_get_viewdef(r.oid, true) FROM relations r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT r.object, 'sequence',
       format('%s start %s increment %s min %s max %s cache %s%s', format_type(s.seqtypid, NULL),
              s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
              CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END)
FROM relations r JOIN pg_sequence s ON s.seqrelid = r.oid
UNION ALL
SELECT r.object, 'owned by', format('%s.%I', d.refobjid::regclass, a.attname)
FROM relations r
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.deptype = 'a'
                AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE r.relkind = 'S'
UNION ALL
SELECT c.object, 'column order', string_agg(quote_ident(c.attname), ', ' ORDER BY c.attnum)
FROM columns c GROUP BY c.object
UNION ALL
SELECT c.object, format('column %I: type', c.attname), c.type FROM columns c
UNION ALL
SELECT c.object, format('column %I: not null', c.attname), 'yes' FROM columns c WHERE c.attnotnull
UNION ALL
SELECT c.object, format('column %I: default', c.attname), c.expression
FROM columns c WHERE c.expression IS NOT NULL AND c.attgenerated = ''
UNION ALL
SELECT c.object, format('column %I: generated', c.attname), c.expression || ' stored'
FROM columns c WHERE c.attgenerated = 's'
UNION ALL
SELECT c.object, format('column %I: identity', c.attname),
       CASE c.attidentity WHEN 'a' THEN 'always' ELSE 'by default' END
FROM columns c WHERE c.attidentity <> ''
UNION ALL
SELECT c.object, format('column %I: collation', c.attname), c.collation FROM columns c WHERE c.collation IS NOT NULL
UNION ALL
SELECT c.object, format('column %I: comment', c.attname), c.comment FROM columns c WHERE c.comment IS NOT NULL
UNION ALL
SELECT r.object, format('constraint %I', co.conname), pg_get_constraintdef(co.oid, true)
FROM relations r JOIN pg_constraint co ON co.conrelid = r.oid
UNION ALL
SELECT r.object, format('constraint %I: comment', co.conname), obj_description(co.oid, 'pg_constraint')
FROM relations r JOIN pg_constraint co ON co.conrelid = r.oid
WHERE obj_description(co.oid, 'pg_constraint') IS NOT NULL
UNION ALL
SELECT r.object, format('index %I', ic.relname), pg_get_indexdef(i.indexrelid)
FROM relations r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT r.object, format('index %I: valid', ic.relname), 'no (INVALID: a failed CREATE INDEX CONCURRENTLY)'
FROM relations r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE NOT i.indisvalid
UNION ALL
SELECT r.object, format('index %I: comment', ic.relname), obj_description(ic.oid, 'pg_class')
FROM relations r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE obj_description(ic.oid, 'pg_class') IS NOT NULL
UNION ALL
SELECT r.object, format('trigger %I', tg.tgname),
       pg_get_triggerdef(tg.oid, true) || CASE tg.tgenabled WHEN 'O' THEN '' WHEN 'D' THEN ' (disabled)'
                                               WHEN 'R' THEN ' (replica only)' ELSE ' (always)' END
FROM relations r JOIN pg_trigger tg ON tg.tgrelid = r.oid AND NOT tg.tgisinternal
UNION ALL
SELECT r.object, format('policy %I', p.polname),
       format('%s FOR %s TO %s USING (%s) WITH CHECK (%s)',
              CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                            WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
              CASE WHEN p.polroles = '{0}' THEN 'PUBLIC'
                   ELSE (SELECT string_agg(quote_ident(rolname), ', ' ORDER BY rolname)
                         FROM pg_roles WHERE oid = ANY (p.polroles)) END,
              coalesce(pg_get_expr(p.polqual, p.polrelid), 'true'),
              coalesce(pg_get_expr(p.polwithcheck, p.polrelid), 'true'))
FROM relations r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT r.object, format('rule %I', ru.rulename), pg_get_ruledef(ru.oid, true)
FROM relations r JOIN pg_rewrite ru ON ru.ev_class = r.oid AND ru.rulename <> '_RETURN'
UNION ALL
SELECT t.object,
       CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' ELSE 'range' END,
       CASE t.typtype
           WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                          FROM pg_enum e WHERE e.enumtypid = t.oid)
           WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                         || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                         || coalesce(' default ' || t.typdefault, '')
           ELSE (SELECT format_type(rg.rngsubtype, NULL) FROM pg_range rg WHERE rg.rngtypid = t.oid)
       END
FROM types t
UNION ALL
SELECT t.object, format('constraint %I', co.conname), pg_get_constraintdef(co.oid, true)
FROM types t JOIN pg_constraint co ON co.contypid = t.oid
UNION ALL
SELECT t.object, 'comment', obj_description(t.oid, 'pg_type')
FROM types t WHERE obj_description(t.oid, 'pg_type') IS NOT NULL
UNION ALL
SELECT f.object, 'definition',
       CASE WHEN f.prokind = 'a' THEN format('returns %s', format_type(f.prorettype, NULL))
            ELSE pg_get_functiondef(f.oid) END
FROM functions f
UNION ALL
SELECT f.object, 'comment', obj_description(f.oid, 'pg_proc')
FROM functions f WHERE obj_description(f.oid, 'pg_proc') IS NOT NULL
UNION ALL
SELECT format('extension %I', x.extname), 'schema', x.extnamespace::regnamespace::text
FROM pg_extension x
WHERE x.extname <> 'plpgsql' AND (/*ALL*/ OR x.extname = ANY ($1::text[]))
UNION ALL
SELECT format('extension %I', x.extname), 'version', x.extversion
FROM pg_extension x
WHERE x.extname <> 'plpgsql' AND (/*ALL*/ OR x.extname = ANY ($1::text[]))
