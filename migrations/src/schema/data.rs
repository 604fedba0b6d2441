//! Generated rows for tables a migration touches, so a rollback that only works on empty tables
//! (re-adding a NOT NULL column without default, a type change that cannot cast) is caught.
//!
//! Values come from each column's type; a CHECK constraint that rejects them is read back and its
//! literals tried instead (`status IN ('open', ...)`, `email LIKE '%_@_%'`); a NOT NULL foreign
//! key gets a generated parent row first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::error::SqlState;
use postgres::GenericClient;

/// How many rows each table gets: two, so a unique constraint the rollback re-adds meets more than one row.
pub const ROWS_PER_TABLE: usize = 2;
const MAX_PARENT_DEPTH: usize = 3;
const MAX_ATTEMPTS: usize = 6;
static NEXT_ROW: AtomicUsize = AtomicUsize::new(0);

struct Column {
    name: String,
    type_name: String,
    type_oid: u32,
    needs_value: bool,
    parent: Option<(String, String)>,
}

/// Fills every ordinary table among `names` (unqualified names, as a migration mentions them)
/// with generated rows. Returns a warning for each table it could not fill; never fails the
/// caller's transaction.
pub fn fill_tables(client: &mut impl GenericClient, names: &[String]) -> Vec<String> {
    fill_tables_with(client, names, ROWS_PER_TABLE, Values::Required)
}

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

/// [`fill_tables`] with `rows` rows per table (and per parent a child needs).
pub fn fill_tables_with(
    client: &mut impl GenericClient,
    names: &[String],
    rows: usize,
    values: Values,
) -> Vec<String> {
    let tables = match columns(client, names, None, values) {
        Ok(tables) => tables,
        Err(error) => {
            return vec![format!(
                "could not read the tables to fill: {}",
                message(&error)
            )]
        }
    };
    tables
        .iter()
        .filter_map(|(table, columns)| {
            fill(client, table, columns, (rows, values), 0)
                .err()
                .map(|message| format!("could not generate rows for {table}: {message}"))
        })
        .collect()
}

fn fill(
    client: &mut impl GenericClient,
    table: &str,
    columns: &[Column],
    (count, values): (usize, Values),
    depth: usize,
) -> Result<(), String> {
    for column in columns.iter().filter(|column| column.needs_value) {
        if let Some((parent, _)) = &column.parent {
            let empty = client
                .query_one(&format!("SELECT NOT EXISTS (SELECT FROM {parent})"), &[])
                .map_err(|error| message(&error))?
                .get::<_, bool>(0);
            if empty {
                if depth >= MAX_PARENT_DEPTH {
                    return Err(format!("its parent {parent} is too deep to generate"));
                }
                let parents = columns_of_one(client, parent, values)?;
                fill(client, parent, &parents, (count, values), depth + 1)?;
            }
        }
    }
    // Numbered across the whole process: rows a no-transaction round-trip leaves behind never
    // collide with the next ones on a unique column.
    let rows: Vec<usize> = (0..count)
        .map(|_| NEXT_ROW.fetch_add(1, Ordering::Relaxed))
        .collect();
    // All rows in one round trip when the plain values pass; row by row, reading the CHECK
    // constraints that refuse them, when they do not.
    if insert_plain_rows(client, table, columns, &rows).is_ok() {
        return Ok(());
    }
    for row in rows {
        insert_row(client, table, columns, row)?;
    }
    Ok(())
}

fn columns_of_one(
    client: &mut impl GenericClient,
    table: &str,
    values: Values,
) -> Result<Vec<Column>, String> {
    columns(client, &[], Some(table), values)
        .map_err(|error| message(&error))
        .map(|mut tables| tables.remove(table).unwrap_or_default())
}

/// The columns of the visible ordinary tables named in `names`, and of `table`, in one query:
/// table (as `regclass` prints it) to its columns in order.
fn columns(
    client: &mut impl GenericClient,
    names: &[String],
    table: Option<&str>,
    values: Values,
) -> Result<BTreeMap<String, Vec<Column>>, postgres::Error> {
    let rows = client.query(
        "SELECT c.oid::regclass::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid,
                (a.attnotnull OR $3) AND ad.adbin IS NULL AND a.attidentity = '' AND a.attgenerated = '',
                fk.confrelid::regclass::text, parent.attname::text
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         LEFT JOIN LATERAL (
             SELECT co.confrelid, co.confkey[1] AS confkey FROM pg_constraint co
             WHERE co.conrelid = c.oid AND co.contype = 'f' AND co.conkey = ARRAY[a.attnum]
             LIMIT 1
         ) fk ON true
         LEFT JOIN pg_attribute parent ON parent.attrelid = fk.confrelid AND parent.attnum = fk.confkey
         WHERE c.relkind IN ('r', 'p')
           AND ((c.relname = ANY ($1) AND pg_table_is_visible(c.oid)) OR c.oid = to_regclass($2))
         ORDER BY 1, a.attnum",
        &[&names, &table, &(values == Values::Every)],
    )?;
    let mut tables: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for row in rows {
        let parent: Option<String> = row.get(5);
        let parent_column: Option<String> = row.get(6);
        tables.entry(row.get(0)).or_default().push(Column {
            name: row.get(1),
            type_name: row.get(2),
            type_oid: row.get(3),
            needs_value: row.get(4),
            parent: parent.zip(parent_column),
        });
    }
    Ok(tables)
}

fn insert_plain_rows(
    client: &mut impl GenericClient,
    table: &str,
    columns: &[Column],
    rows: &[usize],
) -> Result<(), String> {
    let needed: Vec<&Column> = columns.iter().filter(|column| column.needs_value).collect();
    let mut statements = Vec::new();
    for &row in rows {
        statements.push(if needed.is_empty() {
            format!("INSERT INTO {table} DEFAULT VALUES")
        } else {
            let names: Vec<String> = needed
                .iter()
                .map(|column| quote_identifier(&column.name))
                .collect();
            let values = needed
                .iter()
                .map(|column| generated_value(client, column, row))
                .collect::<Result<Vec<_>, _>>()?;
            format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            )
        });
    }
    let batch = format!(
        "SAVEPOINT bomizzel_generated_rows; {}; RELEASE SAVEPOINT bomizzel_generated_rows",
        statements.join("; ")
    );
    client.batch_execute(&batch).map_err(|error| {
        let _ = client.batch_execute(
            "ROLLBACK TO SAVEPOINT bomizzel_generated_rows; RELEASE SAVEPOINT bomizzel_generated_rows",
        );
        message(&error)
    })
}

/// Inserts one row, reading any CHECK constraint that refuses it for values it would accept.
fn insert_row(
    client: &mut impl GenericClient,
    table: &str,
    columns: &[Column],
    row: usize,
) -> Result<(), String> {
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut last_error = String::new();
    for _ in 0..MAX_ATTEMPTS {
        let mut names = Vec::new();
        let mut values = Vec::new();
        for column in columns.iter().filter(|column| column.needs_value) {
            let value = match overrides.iter().find(|(name, _)| *name == column.name) {
                Some((_, value)) => format!("{}::{}", quote_literal(value), column.type_name),
                None => generated_value(client, column, row)?,
            };
            names.push(quote_identifier(&column.name));
            values.push(value);
        }
        let statement = if names.is_empty() {
            format!("INSERT INTO {table} DEFAULT VALUES")
        } else {
            format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            )
        };
        // One round trip: a failed INSERT stops the batch before the RELEASE.
        let batch = format!(
            "SAVEPOINT bomizzel_generated_row; {statement}; RELEASE SAVEPOINT bomizzel_generated_row"
        );
        match client.batch_execute(&batch) {
            Ok(()) => return Ok(()),
            Err(error) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT bomizzel_generated_row")
                    .map_err(|error| message(&error))?;
                let db = error.as_db_error();
                last_error = message(&error);
                let check = db
                    .filter(|db| *db.code() == SqlState::CHECK_VIOLATION)
                    .and_then(|db| db.constraint().map(str::to_owned));
                let Some(constraint) = check else {
                    return Err(last_error);
                };
                let suggested = values_satisfying(client, table, &constraint, row)?;
                if suggested.is_empty() || suggested.iter().all(|pair| overrides.contains(pair)) {
                    return Err(last_error);
                }
                overrides.retain(|(name, _)| !suggested.iter().any(|(other, _)| other == name));
                overrides.extend(suggested);
            }
        }
    }
    Err(last_error)
}

fn generated_value(
    client: &mut impl GenericClient,
    column: &Column,
    row: usize,
) -> Result<String, String> {
    if let Some((parent, parent_column)) = &column.parent {
        return Ok(format!(
            "(SELECT {} FROM {parent} ORDER BY 1 LIMIT 1)",
            quote_identifier(parent_column)
        ));
    }
    let n = row + 1;
    let type_name = column.type_name.as_str();
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    let value = match base {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
            n.to_string()
        }
        "boolean" => "false".to_owned(),
        "text" | "character varying" | "character" | "citext" | "name" => format!("'x{n}'"),
        "uuid" => format!("'00000000-0000-4000-8000-{n:012}'"),
        "date" => "current_date".to_owned(),
        "timestamp with time zone"
        | "timestamp without time zone"
        | "time without time zone"
        | "time with time zone" => "now()".to_owned(),
        "interval" => "'1 day'".to_owned(),
        "json" | "jsonb" => "'{}'".to_owned(),
        "bytea" => "'\\x00'".to_owned(),
        "inet" | "cidr" => format!("'10.0.0.{n}'"),
        _ if type_name.ends_with("[]") => "'{}'".to_owned(),
        _ => {
            // Enums: their first label.
            let label: Option<String> = client
                .query_opt(
                    "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder LIMIT 1",
                    &[&column.type_oid],
                )
                .map_err(|error| message(&error))?
                .map(|row| row.get(0));
            match label {
                Some(label) => quote_literal(&label),
                None => {
                    return Err(format!(
                        "no generator for column {} of type {type_name}",
                        column.name
                    ))
                }
            }
        }
    };
    Ok(format!("{value}::{type_name}"))
}

/// Values for the columns of a CHECK constraint, taken from the literals of its definition.
fn values_satisfying(
    client: &mut impl GenericClient,
    table: &str,
    constraint: &str,
    row: usize,
) -> Result<Vec<(String, String)>, String> {
    let found = client
        .query_opt(
            "SELECT pg_get_constraintdef(co.oid),
                    ARRAY(SELECT a.attname::text FROM pg_attribute a
                          WHERE a.attrelid = co.conrelid AND a.attnum = ANY (co.conkey))
             FROM pg_constraint co WHERE co.conrelid = to_regclass($1) AND co.conname = $2",
            &[&table, &constraint],
        )
        .map_err(|error| message(&error))?;
    let Some(found) = found else {
        return Ok(Vec::new());
    };
    let definition: String = found.get(0);
    let columns: Vec<String> = found.get(1);
    let literal = string_literals(&definition)
        .into_iter()
        .next()
        .map(|literal| like_pattern_example(&literal, row + 1))
        .or_else(|| first_number(&definition));
    Ok(literal
        .map(|value| {
            columns
                .into_iter()
                .map(|column| (column, value.clone()))
                .collect()
        })
        .unwrap_or_default())
}

fn string_literals(definition: &str) -> Vec<String> {
    let mut literals = Vec::new();
    let mut rest = definition;
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        let mut literal = String::new();
        let mut chars = after.char_indices().peekable();
        let mut end = after.len();
        while let Some((index, character)) = chars.next() {
            if character == '\'' {
                if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                    literal.push('\'');
                    chars.next();
                    continue;
                }
                end = index + 1;
                break;
            }
            literal.push(character);
        }
        literals.push(literal);
        rest = &after[end.min(after.len())..];
    }
    literals
}

/// `%_@_%` becomes `x1y@yx1`: a string that LIKE pattern (and a plain literal) accepts.
fn like_pattern_example(literal: &str, n: usize) -> String {
    literal.replace('%', &format!("x{n}")).replace('_', "y")
}

fn first_number(definition: &str) -> Option<String> {
    definition
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| !part.is_empty())
        .map(str::to_owned)
}

fn message(error: &postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn quote_identifier(name: &str) -> String {
    crate::database::quote_identifier(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_literals_out_of_check_definitions() {
        assert_eq!(
            string_literals("CHECK (status = ANY (ARRAY['open'::text, 'it''s'::text]))"),
            vec!["open".to_owned(), "it's".to_owned()]
        );
        assert_eq!(like_pattern_example("%_@_%", 2), "x2y@yx2");
        assert_eq!(
            first_number("CHECK (priority >= 0 AND priority <= 4)").as_deref(),
            Some("0")
        );
    }
}
