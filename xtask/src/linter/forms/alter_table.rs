//! The `ALTER TABLE` table: one row per sub-command (every [`AlterTableType`] but the protobuf's
//! `Undefined` placeholder, in the enum's order; a test fails when `pg_query` adds one), with its
//! lock on the altered table in PostgreSQL 15, what it does to the rows, where PostgreSQL's
//! behaviour changed, the safe way when `alter-table-form` reports it, and an example.

use migrations::trace::LockMode::{AccessExclusive, ShareRowExclusive, ShareUpdateExclusive};
use pg_query::protobuf::AlterTableType as T;

use super::alter_table_form::Effect::{Build, CatalogOnly, Conditional, Scan};
use super::alter_table_form::Example::{Internal, ParsesOnly, Runs};
use super::alter_table_form::{catalog_only, form, rewrite, AlterTableForm};
use crate::linter::rule::Rule;

const REWRITE_ONLINE: &str = "there is no online form: build the new table beside the old one \
     (`CREATE TABLE new (LIKE old INCLUDING ALL)` with the new property), copy the rows in batches \
     while a trigger keeps it current, then swap the names; or run it with \
     `-- xtask: maintenance-window`";

/// Every `ALTER TABLE` form, in the enum's order.
pub static ALTER_TABLE_FORMS: &[AlterTableForm] = &[
    form(
        T::AtAddColumn,
        "ADD COLUMN",
        AccessExclusive,
        Conditional(&[
            Rule::AddColumnVolatileDefault,
            Rule::AddRequiredColumn,
            Rule::AddSerialColumn,
        ]),
        &["11: a column with a non-volatile default no longer rewrites the table"],
        Runs("ALTER TABLE fixture ADD COLUMN x int"),
    ),
    // CREATE OR REPLACE VIEW adding columns at the end of a view.
    form(
        T::AtAddColumnToView, "ADD COLUMN (view)", AccessExclusive, CatalogOnly, &[], Internal),
    form(
        T::AtColumnDefault,
        "ALTER COLUMN ... SET/DROP DEFAULT",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture ALTER COLUMN d SET DEFAULT 2"),
    ),
    // Defaults copied by CREATE TABLE ... LIKE.
    form(
        T::AtCookedColumnDefault, "cooked default", AccessExclusive, CatalogOnly, &[], Internal),
    form(
        T::AtDropNotNull,
        "ALTER COLUMN ... DROP NOT NULL",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture ALTER COLUMN e DROP NOT NULL"),
    ),
    form(
        T::AtSetNotNull,
        "ALTER COLUMN ... SET NOT NULL",
        AccessExclusive,
        Conditional(&[Rule::SetNotNull]),
        &["12: the scan is skipped when a validated CHECK (column IS NOT NULL) proves it"],
        Runs("ALTER TABLE fixture ALTER COLUMN a SET NOT NULL"),
    ),
    rewrite(
        T::AtSetExpression,
        "ALTER COLUMN ... SET EXPRESSION",
        &["17: new; recomputes the stored generated column in every row"],
        REWRITE_ONLINE,
        ParsesOnly("ALTER TABLE fixture ALTER COLUMN g SET EXPRESSION AS (a * 3)"),
    ),
    form(
        T::AtDropExpression,
        "ALTER COLUMN ... DROP EXPRESSION",
        AccessExclusive,
        CatalogOnly,
        &["13: new; the stored values stay as plain values"],
        Runs("ALTER TABLE fixture ALTER COLUMN g DROP EXPRESSION"),
    ),
    form(
        T::AtSetStatistics,
        "ALTER COLUMN ... SET STATISTICS",
        ShareUpdateExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture ALTER COLUMN a SET STATISTICS 500"),
    ),
    form(
        T::AtSetOptions,
        "ALTER COLUMN ... SET (...)",
        ShareUpdateExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture ALTER COLUMN a SET (n_distinct = 100)"),
    ),
    form(
        T::AtResetOptions,
        "ALTER COLUMN ... RESET (...)",
        ShareUpdateExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture ALTER COLUMN a RESET (n_distinct)"),
    ),
    form(
        T::AtSetStorage,
        "ALTER COLUMN ... SET STORAGE",
        AccessExclusive,
        CatalogOnly,
        &["existing values keep their storage; only new values follow it"],
        Runs("ALTER TABLE fixture ALTER COLUMN b SET STORAGE EXTERNAL"),
    ),
    form(
        T::AtSetCompression,
        "ALTER COLUMN ... SET COMPRESSION",
        AccessExclusive,
        CatalogOnly,
        &["14: new; existing values are not recompressed"],
        Runs("ALTER TABLE fixture ALTER COLUMN b SET COMPRESSION pglz"),
    ),
    form(
        T::AtDropColumn,
        "DROP COLUMN",
        AccessExclusive,
        Conditional(&[Rule::DropColumn]),
        &[],
        Runs("ALTER TABLE fixture DROP COLUMN c"),
    ),
    // ADD PRIMARY KEY / UNIQUE after parse analysis.
    form(
        T::AtAddIndex, "ADD INDEX", AccessExclusive, Build, &[], Internal),
    // Indexes rebuilt after ALTER COLUMN TYPE.
    form(
        T::AtReAddIndex, "re-add index", AccessExclusive, Build, &[], Internal),
    form(
        T::AtAddConstraint,
        "ADD CONSTRAINT",
        AccessExclusive,
        // `alter-table-form` itself takes EXCLUDE, which builds its index under the lock.
        Conditional(&[
            Rule::AddForeignKey,
            Rule::AddCheckConstraint,
            Rule::AddUniqueConstraint,
            Rule::AddPrimaryKey,
            Rule::SetNotNull,
            Rule::AlterTableForm,
        ]),
        &[
            "9.1: FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables, not ACCESS EXCLUSIVE",
            "9.2: CHECK ... NOT VALID, validated later under SHARE UPDATE EXCLUSIVE",
        ],
        Runs("ALTER TABLE fixture ADD CONSTRAINT fixture_b_present CHECK (b IS NOT NULL)"),
    ),
    // Constraints re-added after ALTER COLUMN TYPE.
    form(
        T::AtReAddConstraint, "re-add constraint", AccessExclusive, Scan, &[], Internal),
    form(
        T::AtReAddDomainConstraint, "re-add domain constraint", AccessExclusive, Scan, &[], Internal),
    form(
        T::AtAlterConstraint,
        "ALTER CONSTRAINT",
        AccessExclusive,
        CatalogOnly,
        &["18: also ENFORCED / NOT ENFORCED and INHERIT / NO INHERIT"],
        Runs("ALTER TABLE child ALTER CONSTRAINT child_parent_fkey DEFERRABLE"),
    ),
    form(
        T::AtValidateConstraint,
        "VALIDATE CONSTRAINT",
        ShareUpdateExclusive,
        Scan,
        &["9.4: SHARE UPDATE EXCLUSIVE: reads and writes go on during the scan"],
        Runs("ALTER TABLE fixture VALIDATE CONSTRAINT fixture_a_positive"),
    ),
    // ADD CONSTRAINT ... USING INDEX after parse analysis.
    form(
        T::AtAddIndexConstraint, "ADD CONSTRAINT ... USING INDEX", AccessExclusive, CatalogOnly, &[], Internal),
    form(
        T::AtDropConstraint,
        "DROP CONSTRAINT",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture DROP CONSTRAINT fixture_a_positive"),
    ),
    // Comments kept across ALTER COLUMN TYPE.
    form(
        T::AtReAddComment, "re-add comment", AccessExclusive, CatalogOnly, &[], Internal),
    form(
        T::AtAlterColumnType,
        "ALTER COLUMN ... TYPE",
        AccessExclusive,
        Conditional(&[Rule::ChangeColumnType]),
        &["9.2: binary-coercible changes (varchar(n) to text or a longer varchar) no longer rewrite"],
        Runs("ALTER TABLE fixture ALTER COLUMN p TYPE bigint"),
    ),
    form(
        T::AtAlterColumnGenericOptions,
        "ALTER COLUMN ... OPTIONS",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER FOREIGN TABLE remote ALTER COLUMN id OPTIONS (ADD column_name 'remote_id')"),
    ),
    form(
        T::AtChangeOwner,
        "OWNER TO",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture OWNER TO CURRENT_USER"),
    ),
    form(
        T::AtClusterOn,
        "CLUSTER ON",
        ShareUpdateExclusive,
        CatalogOnly,
        &["marks the index for a later CLUSTER; moves no rows"],
        Runs("ALTER TABLE fixture CLUSTER ON fixture_a_idx"),
    ),
    form(
        T::AtDropCluster,
        "SET WITHOUT CLUSTER",
        ShareUpdateExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture SET WITHOUT CLUSTER"),
    ),
    rewrite(
        T::AtSetLogged,
        "SET LOGGED",
        &["9.5: new; writes the whole table to the WAL"],
        REWRITE_ONLINE,
        Runs("ALTER TABLE scratch SET LOGGED"),
    ),
    rewrite(
        T::AtSetUnLogged,
        "SET UNLOGGED",
        &["9.5: new"],
        REWRITE_ONLINE,
        Runs("ALTER TABLE fixture SET UNLOGGED"),
    ),
    form(
        T::AtDropOids,
        "SET WITHOUT OIDS",
        AccessExclusive,
        CatalogOnly,
        &["12: tables have no OIDs any more; accepted and does nothing"],
        Runs("ALTER TABLE fixture SET WITHOUT OIDS"),
    ),
    rewrite(
        T::AtSetAccessMethod,
        "SET ACCESS METHOD",
        &["15: new"],
        REWRITE_ONLINE,
        Runs("ALTER TABLE fixture SET ACCESS METHOD heap"),
    ),
    // The fixture cannot create a tablespace (that needs a directory on the server), so the
    // example names the one the table is in: PostgreSQL takes the lock and copies nothing.
    rewrite(
        T::AtSetTableSpace,
        "SET TABLESPACE",
        &["copies every file of the table and its TOAST table; indexes move with ALTER INDEX"],
        "copy without the lock: `pg_repack --tablespace`, or a new table created in the \
         tablespace, filled in batches and swapped in; or run it with \
         `-- xtask: maintenance-window`",
        Runs("ALTER TABLE fixture SET TABLESPACE pg_default"),
    ),
    form(
        T::AtSetRelOptions,
        "SET (storage parameters)",
        ShareUpdateExclusive,
        CatalogOnly,
        &[
            "9.5: most table parameters (fillfactor, autovacuum_*) take SHARE UPDATE EXCLUSIVE; \
             user_catalog_table and view options still take ACCESS EXCLUSIVE",
        ],
        Runs("ALTER TABLE fixture SET (fillfactor = 70)"),
    ),
    form(
        T::AtResetRelOptions,
        "RESET (storage parameters)",
        ShareUpdateExclusive,
        CatalogOnly,
        &["as SET (...)"],
        Runs("ALTER TABLE fixture RESET (fillfactor)"),
    ),
    // CREATE OR REPLACE VIEW replacing a view's options.
    form(
        T::AtReplaceRelOptions, "replace options", AccessExclusive, CatalogOnly, &[], Internal),
    catalog_only(T::AtEnableTrig, "ENABLE TRIGGER", ShareRowExclusive, "ALTER TABLE fixture ENABLE TRIGGER fixture_trigger"),
    catalog_only(T::AtEnableAlwaysTrig, "ENABLE ALWAYS TRIGGER", ShareRowExclusive, "ALTER TABLE fixture ENABLE ALWAYS TRIGGER fixture_trigger"),
    catalog_only(T::AtEnableReplicaTrig, "ENABLE REPLICA TRIGGER", ShareRowExclusive, "ALTER TABLE fixture ENABLE REPLICA TRIGGER fixture_trigger"),
    catalog_only(T::AtDisableTrig, "DISABLE TRIGGER", ShareRowExclusive, "ALTER TABLE fixture DISABLE TRIGGER fixture_trigger"),
    catalog_only(T::AtEnableTrigAll, "ENABLE TRIGGER ALL", ShareRowExclusive, "ALTER TABLE fixture ENABLE TRIGGER ALL"),
    catalog_only(T::AtDisableTrigAll, "DISABLE TRIGGER ALL", ShareRowExclusive, "ALTER TABLE fixture DISABLE TRIGGER ALL"),
    catalog_only(T::AtEnableTrigUser, "ENABLE TRIGGER USER", ShareRowExclusive, "ALTER TABLE fixture ENABLE TRIGGER USER"),
    catalog_only(T::AtDisableTrigUser, "DISABLE TRIGGER USER", ShareRowExclusive, "ALTER TABLE fixture DISABLE TRIGGER USER"),
    catalog_only(T::AtEnableRule, "ENABLE RULE", AccessExclusive, "ALTER TABLE fixture ENABLE RULE fixture_rule"),
    catalog_only(T::AtEnableAlwaysRule, "ENABLE ALWAYS RULE", AccessExclusive, "ALTER TABLE fixture ENABLE ALWAYS RULE fixture_rule"),
    catalog_only(T::AtEnableReplicaRule, "ENABLE REPLICA RULE", AccessExclusive, "ALTER TABLE fixture ENABLE REPLICA RULE fixture_rule"),
    catalog_only(T::AtDisableRule, "DISABLE RULE", AccessExclusive, "ALTER TABLE fixture DISABLE RULE fixture_rule"),
    form(
        T::AtAddInherit,
        "INHERIT",
        AccessExclusive,
        CatalogOnly,
        &["the parent is locked SHARE UPDATE EXCLUSIVE; queries on it see the child's rows at once"],
        Runs("ALTER TABLE orphan INHERIT parent"),
    ),
    form(
        T::AtDropInherit,
        "NO INHERIT",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE heir NO INHERIT parent"),
    ),
    form(
        T::AtAddOf,
        "OF type",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE untyped OF fixture_row"),
    ),
    form(
        T::AtDropOf, "NOT OF", AccessExclusive, CatalogOnly, &[], Runs("ALTER TABLE typed NOT OF")),
    form(
        T::AtReplicaIdentity,
        "REPLICA IDENTITY",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER TABLE fixture REPLICA IDENTITY FULL"),
    ),
    catalog_only(T::AtEnableRowSecurity, "ENABLE ROW LEVEL SECURITY", AccessExclusive, "ALTER TABLE fixture ENABLE ROW LEVEL SECURITY"),
    catalog_only(T::AtDisableRowSecurity, "DISABLE ROW LEVEL SECURITY", AccessExclusive, "ALTER TABLE fixture DISABLE ROW LEVEL SECURITY"),
    catalog_only(T::AtForceRowSecurity, "FORCE ROW LEVEL SECURITY", AccessExclusive, "ALTER TABLE fixture FORCE ROW LEVEL SECURITY"),
    catalog_only(T::AtNoForceRowSecurity, "NO FORCE ROW LEVEL SECURITY", AccessExclusive, "ALTER TABLE fixture NO FORCE ROW LEVEL SECURITY"),
    form(
        T::AtGenericOptions,
        "OPTIONS",
        AccessExclusive,
        CatalogOnly,
        &[],
        Runs("ALTER FOREIGN TABLE remote OPTIONS (ADD table_name 'elsewhere')"),
    ),
    AlterTableForm {
        safe_way: Some(
            "before attaching, add a CHECK constraint that matches the partition bound to the \
             table being attached (NOT VALID, then VALIDATE CONSTRAINT): PostgreSQL then skips \
             the scan; acknowledge with `-- xtask: allow alter-table-form -- bound proven by CHECK`",
        ),
        ..form(
            T::AtAttachPartition,
            "ATTACH PARTITION",
            ShareUpdateExclusive,
            Scan,
            &[
                "12: SHARE UPDATE EXCLUSIVE on the parent (was ACCESS EXCLUSIVE)",
                "the attached table is locked ACCESS EXCLUSIVE and scanned unless a validated \
                 CHECK implies its bound; a DEFAULT partition is scanned too",
            ],
            Runs(
                "ALTER TABLE measurements ATTACH PARTITION measurements_2027 \
                 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')",
            ),
        )
    },
    form(
        T::AtDetachPartition,
        "DETACH PARTITION",
        AccessExclusive,
        CatalogOnly,
        &["14: DETACH PARTITION CONCURRENTLY takes SHARE UPDATE EXCLUSIVE (outside a transaction)"],
        Runs("ALTER TABLE measurements DETACH PARTITION measurements_2026"),
    ),
    // Needs a DETACH ... CONCURRENTLY that was interrupted, which no fixture can leave behind.
    form(
        T::AtDetachPartitionFinalize,
        "DETACH PARTITION ... FINALIZE",
        ShareUpdateExclusive,
        CatalogOnly,
        &["14: new"],
        ParsesOnly("ALTER TABLE measurements DETACH PARTITION measurements_2026 FINALIZE"),
    ),
    form(
        T::AtAddIdentity,
        "ALTER COLUMN ... ADD GENERATED AS IDENTITY",
        AccessExclusive,
        CatalogOnly,
        &["10: new"],
        Runs("ALTER TABLE counters ALTER COLUMN n ADD GENERATED BY DEFAULT AS IDENTITY"),
    ),
    form(
        T::AtSetIdentity,
        "ALTER COLUMN ... SET GENERATED / sequence options",
        AccessExclusive,
        CatalogOnly,
        &["10: new"],
        Runs("ALTER TABLE fixture ALTER COLUMN i SET GENERATED ALWAYS"),
    ),
    form(
        T::AtDropIdentity,
        "ALTER COLUMN ... DROP IDENTITY",
        AccessExclusive,
        CatalogOnly,
        &["10: new"],
        Runs("ALTER TABLE fixture ALTER COLUMN i DROP IDENTITY"),
    ),
    // Extended statistics rebuilt after ALTER COLUMN TYPE.
    form(
        T::AtReAddStatistics, "re-add statistics", ShareUpdateExclusive, CatalogOnly, &["14: new"], Internal),
];
