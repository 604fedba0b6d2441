//! What the catalogs say of the tables to fill: each column's type, whether it needs a value,
//! and the parent a foreign key points at; and the SQL text and savepoint-guarded reads every
//! part of the generator shares.

use std::collections::BTreeMap;

use postgres::GenericClient;

pub(super) use crate::database::quote_identifier;

/// Which columns get a generated value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Only those that must have one (NOT NULL without a default): the rows a rollback that
    /// forgets a NULL meets.
    Required,
    /// Every column without a default: the rows a migration that tightens a column meets after
    /// its backfill.
    Every,
}

/// A column of a table to fill.
pub(super) struct Column {
    pub(super) name: String,
    pub(super) type_name: String,
    pub(super) type_oid: u32,
    pub(super) needs_value: bool,
    pub(super) reference: Option<Reference>,
}

/// The parent a foreign-key column points at: the parent's column for this one, and every
/// column of the key, so that the columns of a composite key read the same parent row.
pub(super) struct Reference {
    pub(super) parent: String,
    pub(super) column: String,
    pub(super) key: Vec<String>,
}

/// The columns of one table (as `regclass` reads it), in order.
pub(super) fn columns_of_one(
    client: &mut impl GenericClient,
    table: &str,
    values: Values,
) -> Result<Vec<Column>, postgres::Error> {
    columns(client, &[], Some(table), values)
        .map(|mut tables| tables.remove(table).unwrap_or_default())
}

/// The columns of the visible ordinary tables named in `names`, and of `table`, in one query:
/// table (as `regclass` prints it) to its columns in order. System schemas and the engine's own
/// tables are never filled, whatever a comment names.
pub(super) fn columns(
    client: &mut impl GenericClient,
    names: &[String],
    table: Option<&str>,
    values: Values,
) -> Result<BTreeMap<String, Vec<Column>>, postgres::Error> {
    let rows = client.query(
        "SELECT c.oid::regclass::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid,
                (a.attnotnull OR $3) AND ad.adbin IS NULL AND a.attidentity = '' AND a.attgenerated = '',
                fk.confrelid::regclass::text, parent.attname::text,
                ARRAY(SELECT key.attname::text FROM unnest(fk.confkey) WITH ORDINALITY AS k(attnum, position)
                      JOIN pg_attribute key ON key.attrelid = fk.confrelid AND key.attnum = k.attnum
                      ORDER BY k.position),
                a.attnotnull
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         LEFT JOIN LATERAL (
             SELECT co.confrelid, co.confkey, co.confkey[array_position(co.conkey, a.attnum)] AS parent_attnum
             FROM pg_constraint co
             WHERE co.conrelid = c.oid AND co.contype = 'f' AND a.attnum = ANY (co.conkey)
             ORDER BY cardinality(co.conkey), co.conname
             LIMIT 1
         ) fk ON true
         LEFT JOIN pg_attribute parent ON parent.attrelid = fk.confrelid AND parent.attnum = fk.parent_attnum
         WHERE c.relkind IN ('r', 'p')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bomizzel_roundtrip')
           AND c.relname NOT IN ('refinery_schema_history', 'bomizzel_migration_state', 'bomizzel_backfill_progress')
           AND ((c.relname = ANY ($1) AND pg_table_is_visible(c.oid)) OR c.oid = to_regclass($2))
         ORDER BY 1, a.attnum",
        &[&names, &table, &(values == Values::Every)],
    )?;
    let mut tables: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for row in rows {
        let parent: Option<String> = row.get(5);
        let parent_column: Option<String> = row.get(6);
        let key: Vec<String> = row.get(7);
        let table: String = row.get(0);
        // A nullable column pointing into its own table stays NULL: there is no row yet to point at.
        let own_optional_parent = parent.as_ref() == Some(&table) && !row.get::<_, bool>(8);
        tables.entry(table).or_default().push(Column {
            name: row.get(1),
            type_name: row.get(2),
            type_oid: row.get(3),
            needs_value: row.get::<_, bool>(4) && !own_optional_parent,
            reference: parent.zip(parent_column).map(|(parent, column)| Reference {
                parent,
                column,
                key,
            }),
        });
    }
    Ok(tables)
}

/// The condition on `parent` rows that have a key and that no row of `table` points at
/// through `column` yet.
pub(super) fn unreferenced(table: &str, column: &Column, reference: &Reference) -> String {
    let key: Vec<String> = reference
        .key
        .iter()
        .map(|c| format!("parent.{}", quote_identifier(c)))
        .collect();
    format!(
        "({}) IS NOT NULL AND NOT EXISTS (SELECT FROM {table} AS child WHERE child.{} = parent.{})",
        key.join(", "),
        quote_identifier(&column.name),
        quote_identifier(&reference.column)
    )
}

/// Runs a catalog read in its own savepoint, so a failure leaves the caller's transaction usable.
pub(super) fn guarded<C: GenericClient, T, E: ToMessage>(
    client: &mut C,
    read: impl FnOnce(&mut C) -> Result<T, E>,
) -> Result<T, String> {
    client
        .batch_execute("SAVEPOINT bomizzel_catalog_read")
        .map_err(|error| message(&error))?;
    match read(client) {
        Ok(value) => {
            let _ = client.batch_execute("RELEASE SAVEPOINT bomizzel_catalog_read");
            Ok(value)
        }
        Err(error) => {
            let _ = client.batch_execute(
                "ROLLBACK TO SAVEPOINT bomizzel_catalog_read; RELEASE SAVEPOINT bomizzel_catalog_read",
            );
            Err(error.to_message())
        }
    }
}

/// An error of a read, as its message.
pub(super) trait ToMessage {
    fn to_message(&self) -> String;
}

impl ToMessage for postgres::Error {
    fn to_message(&self) -> String {
        message(self)
    }
}

impl ToMessage for String {
    fn to_message(&self) -> String {
        self.clone()
    }
}

/// The server's message of an error, else the client's.
pub(super) fn message(error: &postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

/// A string literal, quotes doubled.
pub(super) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
