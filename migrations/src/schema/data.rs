//! Generated rows for tables a migration touches, so a rollback that only works on empty tables
//! (re-adding a NOT NULL column without default, a type change that cannot cast) is caught.
//!
//! Values come from each column's type, asking PostgreSQL which candidate literal its input
//! function accepts when the type is not a common one (a domain's CHECK included). A CHECK
//! constraint that rejects a row is read back and the values its definition suggests are tried
//! (`status IN ('open', ...)`, `email LIKE '%_@_%'`, `version ~ '^[0-9]+\.[0-9]+$'`). A foreign
//! key gets parent rows first, each child row its own parent row, so a UNIQUE foreign key fills.
//! Deferred constraints are checked when the rows are made, as real rows' were long before.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::error::SqlState;
use postgres::GenericClient;

/// How many rows each table gets: two, so a unique constraint the rollback re-adds meets more than one row.
pub const ROWS_PER_TABLE: usize = 2;
const MAX_PARENT_DEPTH: usize = 6;
/// Inserts tried for one row before giving up on the CHECK constraints that refuse it.
const MAX_ATTEMPTS: usize = 12;
static NEXT_ROW: AtomicUsize = AtomicUsize::new(0);

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

/// How generated text looks where nothing else says: a word, a version, a number. A table whose
/// expression index or trigger parses its text refuses the first and may take another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextShape {
    Word,
    Version,
    Number,
}

impl TextShape {
    /// The shapes after this one, in the order they are tried.
    pub fn others(self) -> impl Iterator<Item = TextShape> {
        [TextShape::Word, TextShape::Version, TextShape::Number]
            .into_iter()
            .filter(move |shape| *shape != self)
    }

    /// The text of row `n`.
    pub fn text(self, n: usize) -> String {
        match self {
            TextShape::Word => format!("x{n}"),
            TextShape::Version => format!("1.0.{n}"),
            TextShape::Number => n.to_string(),
        }
    }
}

/// What a fill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filled {
    /// The tables that got rows, parents before their children, each once.
    pub tables: Vec<String>,
    /// The tables that got none, and why.
    pub unfilled: Vec<Unfilled>,
}

impl Filled {
    /// One line per table left empty.
    pub fn warnings(&self) -> Vec<String> {
        self.unfilled.iter().map(ToString::to_string).collect()
    }
}

/// A table the generator could not fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    pub table: String,
    /// The named table that needed it as a parent, when it is not itself named.
    pub needed_by: Option<String>,
    pub reason: String,
}

impl fmt::Display for Unfilled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not generate rows for {}", self.table)?;
        if let Some(child) = &self.needed_by {
            write!(f, " (a parent of {child}, which stays empty too)")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Fills every ordinary table among `names` (unqualified names, as a migration mentions them)
/// with [`ROWS_PER_TABLE`] rows of required values. Never fails the caller's transaction: a
/// table that cannot be filled is left as it was and reported.
pub fn fill_tables(client: &mut impl GenericClient, names: &[String]) -> Filled {
    fill(
        client,
        names,
        (ROWS_PER_TABLE, Values::Required, TextShape::Word),
    )
}

/// [`fill_tables`] with text of another shape first.
pub fn fill_tables_shaped(
    client: &mut impl GenericClient,
    names: &[String],
    shape: TextShape,
) -> Filled {
    fill(client, names, (ROWS_PER_TABLE, Values::Required, shape))
}

/// [`fill_tables`] with `rows` rows per table (and per parent a child needs).
pub fn fill_tables_with(
    client: &mut impl GenericClient,
    names: &[String],
    rows: usize,
    values: Values,
) -> Filled {
    fill(client, names, (rows, values, TextShape::Word))
}

fn fill(
    client: &mut impl GenericClient,
    names: &[String],
    (rows, values, shape): (usize, Values, TextShape),
) -> Filled {
    let mut generator = Generator {
        client,
        values,
        rows,
        first_shape: shape,
        shape,
        templates: HashMap::new(),
        filled: Filled::default(),
    };
    generator.fill_named(names);
    generator.filled
}

struct Column {
    name: String,
    type_name: String,
    type_oid: u32,
    needs_value: bool,
    reference: Option<Reference>,
}

/// The parent a foreign-key column points at: the parent's column for this one, and every
/// column of the key, so that the columns of a composite key read the same parent row.
struct Reference {
    parent: String,
    column: String,
    key: Vec<String>,
}

struct Generator<'c, C: GenericClient> {
    client: &'c mut C,
    values: Values,
    rows: usize,
    first_shape: TextShape,
    /// The shape of the row being inserted: the first, or one a refused row moved on to.
    shape: TextShape,
    /// The literal shape each uncommon type accepts, found once per type.
    templates: HashMap<u32, Option<&'static str>>,
    filled: Filled,
}

/// A failure that stops a table's fill, naming the table at fault.
struct Refused {
    table: String,
    reason: String,
}

impl<'c, C: GenericClient> Generator<'c, C> {
    /// A generator of single values (a query parameter's), not of rows.
    fn for_values(client: &'c mut C) -> Self {
        Generator {
            client,
            values: Values::Every,
            rows: 1,
            first_shape: TextShape::Word,
            shape: TextShape::Word,
            templates: HashMap::new(),
            filled: Filled::default(),
        }
    }

    fn fill_named(&mut self, names: &[String]) {
        let values = self.values;
        let tables = match guarded(self.client, |client| columns(client, names, None, values)) {
            Ok(tables) => tables,
            Err(reason) => {
                self.filled.unfilled.push(Unfilled {
                    table: "the tables the migration names".to_owned(),
                    needed_by: None,
                    reason,
                });
                return;
            }
        };
        // Checked as each row is made, as real rows were checked long before a rollback: pending
        // deferred checks would otherwise stop the migration's own ALTER TABLE (55006).
        let deferred = self.deferred_constraints();
        let _ = self.client.batch_execute("SET CONSTRAINTS ALL IMMEDIATE");
        for (table, columns) in &tables {
            let filled_before = self.filled.tables.len();
            // A table whose fill fails keeps none of its rows, parents included.
            let outcome = self
                .client
                .batch_execute("SAVEPOINT bomizzel_fill_table")
                .map_err(|error| Refused {
                    table: table.clone(),
                    reason: message(&error),
                })
                .and_then(|()| self.fill(table, columns, self.rows, 0));
            match outcome {
                Ok(()) => {
                    let _ = self
                        .client
                        .batch_execute("RELEASE SAVEPOINT bomizzel_fill_table");
                }
                Err(refused) => {
                    let _ = self.client.batch_execute(
                        "ROLLBACK TO SAVEPOINT bomizzel_fill_table; RELEASE SAVEPOINT bomizzel_fill_table",
                    );
                    self.filled.tables.truncate(filled_before);
                    self.filled.unfilled.push(Unfilled {
                        needed_by: (refused.table != *table).then(|| table.clone()),
                        table: refused.table,
                        reason: refused.reason,
                    });
                }
            }
        }
        if !deferred.is_empty() {
            let _ = self
                .client
                .batch_execute(&format!("SET CONSTRAINTS {} DEFERRED", deferred.join(", ")));
        }
    }

    /// The constraints declared INITIALLY DEFERRED, schema-qualified and quoted.
    fn deferred_constraints(&mut self) -> Vec<String> {
        guarded(self.client, |client| {
            client.query(
                "SELECT format('%I.%I', n.nspname, co.conname) FROM pg_constraint co
                 JOIN pg_namespace n ON n.oid = co.connamespace WHERE co.condeferred",
                &[],
            )
        })
        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
        .unwrap_or_default()
    }

    fn fill(
        &mut self,
        table: &str,
        columns: &[Column],
        count: usize,
        depth: usize,
    ) -> Result<(), Refused> {
        let refused = |reason: String| Refused {
            table: table.to_owned(),
            reason,
        };
        if depth == 0 && self.filled.tables.iter().any(|filled| filled == table) {
            // Filled already, as the parent of a table before it.
            return Ok(());
        }
        let mut rows_before_parents = None;
        for column in columns.iter().filter(|column| column.needs_value) {
            let Some(reference) = &column.reference else {
                continue;
            };
            if reference.parent == table {
                return Err(refused(format!(
                    "column {} must reference a row of the same table",
                    column.name
                )));
            }
            let present: i64 = self
                .client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM (SELECT FROM {} AS parent WHERE {} LIMIT $1) AS present",
                        reference.parent,
                        unreferenced(table, column, reference)
                    ),
                    &[&(count as i64)],
                )
                .map_err(|error| refused(message(&error)))?
                .get(0);
            let missing = count.saturating_sub(present as usize);
            if missing > 0 {
                if depth >= MAX_PARENT_DEPTH {
                    return Err(refused(format!(
                        "its parent {} is too deep to generate",
                        reference.parent
                    )));
                }
                let values = self.values;
                let parents = guarded(self.client, |client| {
                    columns_of_one(client, &reference.parent, values)
                })
                .map_err(refused)?;
                if rows_before_parents.is_none() {
                    rows_before_parents = Some(self.count_rows(table).map_err(refused)?);
                }
                self.fill(&reference.parent, &parents, missing, depth + 1)?;
            }
        }
        // New parent rows may have made ours through a trigger (an aggregates row per post):
        // then those are the generated rows.
        if let Some(before) = rows_before_parents {
            if self.count_rows(table).map_err(refused)? >= before + count as i64 {
                self.filled.tables.push(table.to_owned());
                return Ok(());
            }
        }
        // Numbered across the whole process: rows a no-transaction round-trip leaves behind never
        // collide with the next ones on a unique column.
        let numbers: Vec<usize> = (0..count)
            .map(|_| NEXT_ROW.fetch_add(1, Ordering::Relaxed))
            .collect();
        // All rows in one round trip when the plain values pass; row by row, reading the CHECK
        // constraints that refuse them, when they do not.
        if self.insert_plain_rows(table, columns, &numbers).is_err() {
            // Each row inserted before takes its parent: the next unreferenced one is first.
            for &number in &numbers {
                self.insert_row(table, columns, 0, number)
                    .map_err(refused)?;
            }
        }
        if !self.filled.tables.iter().any(|filled| filled == table) {
            self.filled.tables.push(table.to_owned());
        }
        Ok(())
    }

    fn count_rows(&mut self, table: &str) -> Result<i64, String> {
        self.client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map(|row| row.get(0))
            .map_err(|error| message(&error))
    }

    fn insert_plain_rows(
        &mut self,
        table: &str,
        columns: &[Column],
        numbers: &[usize],
    ) -> Result<(), String> {
        // One statement for all rows: its parent lookups all see the table as it was, so the
        // index-th row takes the index-th unreferenced parent.
        let mut rows = Vec::new();
        for (index, &number) in numbers.iter().enumerate() {
            rows.push(self.row_values(table, columns, index, number, &[])?);
        }
        let statements = insert_sql(table, columns, &rows);
        let batch = format!(
            "SAVEPOINT bomizzel_generated_rows; {}; RELEASE SAVEPOINT bomizzel_generated_rows",
            statements.join("; ")
        );
        self.client.batch_execute(&batch).map_err(|error| {
            let _ = self.client.batch_execute(
                "ROLLBACK TO SAVEPOINT bomizzel_generated_rows; RELEASE SAVEPOINT bomizzel_generated_rows",
            );
            message(&error)
        })
    }

    /// Inserts one row, reading each CHECK constraint that refuses it for values it would accept.
    fn insert_row(
        &mut self,
        table: &str,
        columns: &[Column],
        index: usize,
        number: usize,
    ) -> Result<(), String> {
        let mut overrides: Vec<(String, String)> = Vec::new();
        // Per constraint, the candidates it suggested that are still untried.
        let mut suggestions: BTreeMap<String, Vec<Vec<(String, String)>>> = BTreeMap::new();
        let mut last_error = String::new();
        let mut shapes = self.first_shape.others();
        self.shape = self.first_shape;
        for _ in 0..MAX_ATTEMPTS {
            let row = self.row_values(table, columns, index, number, &overrides)?;
            let statement = insert_sql(table, columns, &[row]).join("; ");
            // One round trip: a failed INSERT stops the batch before the RELEASE.
            let batch = format!(
                "SAVEPOINT bomizzel_generated_row; {statement}; RELEASE SAVEPOINT bomizzel_generated_row"
            );
            let error = match self.client.batch_execute(&batch) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            self.client
                .batch_execute(
                    "ROLLBACK TO SAVEPOINT bomizzel_generated_row; RELEASE SAVEPOINT bomizzel_generated_row",
                )
                .map_err(|error| message(&error))?;
            last_error = message(&error);
            let check = error
                .as_db_error()
                .filter(|db| *db.code() == SqlState::CHECK_VIOLATION)
                .and_then(|db| db.constraint().map(str::to_owned));
            let Some(constraint) = check else {
                // Refused by what parses the text (an expression index, a trigger): another shape.
                match shapes.next() {
                    Some(shape) => {
                        self.shape = shape;
                        continue;
                    }
                    None => return Err(last_error),
                }
            };
            if !suggestions.contains_key(&constraint) {
                let found = values_satisfying(self.client, table, &constraint, number)?;
                suggestions.insert(constraint.clone(), found);
            }
            let Some(next) = suggestions
                .get_mut(&constraint)
                .and_then(|left| (!left.is_empty()).then(|| left.remove(0)))
            else {
                return Err(last_error);
            };
            overrides.retain(|(name, _)| !next.iter().any(|(other, _)| other == name));
            overrides.extend(next);
        }
        Err(last_error)
    }

    /// The generated values of one row for the columns that need one, overrides first.
    fn row_values(
        &mut self,
        table: &str,
        columns: &[Column],
        index: usize,
        number: usize,
        overrides: &[(String, String)],
    ) -> Result<Vec<String>, String> {
        columns
            .iter()
            .filter(|column| column.needs_value)
            .map(
                |column| match overrides.iter().find(|(name, _)| *name == column.name) {
                    Some((_, value)) => {
                        Ok(format!("{}::{}", quote_literal(value), column.type_name))
                    }
                    None => self.value(table, column, index, number),
                },
            )
            .collect()
    }

    /// The value of `column` in the `index`-th row of this fill, `number` unique in the process.
    fn value(
        &mut self,
        table: &str,
        column: &Column,
        index: usize,
        number: usize,
    ) -> Result<String, String> {
        if let Some(reference) = &column.reference {
            // The index-th parent row in key order that no row of ours points at yet: each child
            // its own parent (a UNIQUE foreign key fills), the columns of a composite key all
            // from the same row.
            let key: Vec<String> = reference.key.iter().map(|c| quote_identifier(c)).collect();
            return Ok(format!(
                "(SELECT {} FROM {} AS parent WHERE {} ORDER BY {} OFFSET {index} LIMIT 1)",
                quote_identifier(&reference.column),
                reference.parent,
                unreferenced(table, column, reference),
                key.join(", "),
            ));
        }
        let n = number + 1;
        let type_name = column.type_name.as_str();
        if let Some(literal) = shaped_text(&column.name, type_name, n) {
            return Ok(format!("{}::{type_name}", quote_literal(&literal)));
        }
        let base = type_name.split('(').next().unwrap_or(type_name).trim();
        let value = match base {
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
                n.to_string()
            }
            "boolean" => "false".to_owned(),
            "text" | "character varying" | "character" | "citext" | "name" => {
                quote_literal(&self.shape.text(n))
            }
            "uuid" => format!("'00000000-0000-4000-8000-{n:012}'"),
            "date" => "current_date".to_owned(),
            "timestamp with time zone"
            | "timestamp without time zone"
            | "time without time zone"
            | "time with time zone" => "now()".to_owned(),
            "interval" => "'1 day'".to_owned(),
            "json" | "jsonb" => "'{}'".to_owned(),
            "bytea" => format!("'\\x{n:08x}'"),
            "inet" | "cidr" => format!("'10.0.0.{}'", n % 250 + 1),
            _ if type_name.ends_with("[]") => "'{}'".to_owned(),
            _ => return self.uncommon_value(column, n),
        };
        Ok(format!("{value}::{type_name}"))
    }

    /// Enums get their first label; any other type (a domain, `tsvector`, `ltree`, `oid`, a
    /// range, a geometric type) the first candidate literal its input function accepts.
    fn uncommon_value(&mut self, column: &Column, n: usize) -> Result<String, String> {
        let type_name = &column.type_name;
        let label: Option<String> = self
            .client
            .query_opt(
                "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder LIMIT 1",
                &[&column.type_oid],
            )
            .map_err(|error| message(&error))?
            .map(|row| row.get(0));
        if let Some(label) = label {
            return Ok(format!("{}::{type_name}", quote_literal(&label)));
        }
        let template = match self.templates.get(&column.type_oid) {
            Some(template) => *template,
            None => {
                let found = CANDIDATE_LITERALS.iter().copied().find(|template| {
                    let probe = format!(
                        "SAVEPOINT bomizzel_probe; SELECT {}::{type_name}; RELEASE SAVEPOINT bomizzel_probe",
                        quote_literal(&template.replace("{n}", "1"))
                    );
                    let accepted = self.client.batch_execute(&probe).is_ok();
                    if !accepted {
                        let _ = self.client.batch_execute(
                            "ROLLBACK TO SAVEPOINT bomizzel_probe; RELEASE SAVEPOINT bomizzel_probe",
                        );
                    }
                    accepted
                });
                self.templates.insert(column.type_oid, found);
                found
            }
        };
        match template {
            Some(template) => Ok(format!(
                "{}::{type_name}",
                quote_literal(&template.replace("{n}", &n.to_string()))
            )),
            None => Err(format!(
                "no value of type {type_name} for column {}",
                column.name
            )),
        }
    }
}

/// The INSERT statements for `rows` of values of the columns that need one: one multi-row
/// statement, or one `DEFAULT VALUES` statement per row when no column needs a value.
fn insert_sql(table: &str, columns: &[Column], rows: &[Vec<String>]) -> Vec<String> {
    let names: Vec<String> = columns
        .iter()
        .filter(|column| column.needs_value)
        .map(|column| quote_identifier(&column.name))
        .collect();
    if names.is_empty() {
        return vec![format!("INSERT INTO {table} DEFAULT VALUES"); rows.len()];
    }
    let values: Vec<String> = rows
        .iter()
        .map(|row| format!("({})", row.join(", ")))
        .collect();
    vec![format!(
        "INSERT INTO {table} ({}) VALUES {}",
        names.join(", "),
        values.join(", ")
    )]
}

/// The condition on `parent` rows that have a key and that no row of `table` points at
/// through `column` yet.
fn unreferenced(table: &str, column: &Column, reference: &Reference) -> String {
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

/// Literals tried, in order, on a type the generator does not know; `{n}` is the row's number.
/// Numbered shapes first, so that rows differ where the type allows it.
const CANDIDATE_LITERALS: &[&str] = &[
    "{n}",
    "x{n}",
    "1.0.{n}",
    "{}",
    "",
    "()",
    "(0,{n})",
    "((0,0),(1,{n}))",
    "<0,0>,1",
    "empty",
    "0/{n}",
    "08:00:2b:01:02:0{n}",
    "<x/>",
    "t",
];

/// A text value shaped by what the column's name says it holds, where a plain `x1` would be
/// refused by the application's checks (an email, a URL, a version).
fn shaped_text(column: &str, type_name: &str, n: usize) -> Option<String> {
    let textual = ["text", "character varying", "character", "citext"]
        .iter()
        .any(|text| type_name.starts_with(text));
    if !textual || type_name.starts_with("character(") {
        return None;
    }
    let name = column.to_lowercase();
    if name.contains("email") {
        Some(format!("user{n}@example.com"))
    } else if name.contains("url") || name.ends_with("uri") || name.contains("link") {
        Some(format!("https://example.com/{n}"))
    } else if name == "version" || name.ends_with("_version") || name == "semver" {
        Some(format!("1.0.{n}"))
    } else {
        None
    }
}

/// Runs a catalog read in its own savepoint, so a failure leaves the caller's transaction usable.
fn guarded<C: GenericClient, T, E: ToMessage>(
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

trait ToMessage {
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

fn columns_of_one(
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
fn columns(
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

/// Candidate values for the columns of a CHECK constraint, from its definition: each string
/// literal (a LIKE pattern or a regular expression made into a matching example), each number
/// and the number after it (for `> 0`), in the order they appear.
fn values_satisfying(
    client: &mut impl GenericClient,
    table: &str,
    constraint: &str,
    number: usize,
) -> Result<Vec<Vec<(String, String)>>, String> {
    let found = guarded(client, |client| {
        client.query_opt(
            "SELECT pg_get_constraintdef(co.oid),
                    ARRAY(SELECT a.attname::text FROM pg_attribute a
                          WHERE a.attrelid = co.conrelid AND a.attnum = ANY (co.conkey))
             FROM pg_constraint co WHERE co.conrelid = to_regclass($1) AND co.conname = $2",
            &[&table, &constraint],
        )
    })?;
    let Some(found) = found else {
        return Ok(Vec::new());
    };
    let definition: String = found.get(0);
    let columns: Vec<String> = found.get(1);
    let mut candidates: Vec<String> = Vec::new();
    for literal in string_literals(&definition) {
        candidates.push(like_pattern_example(&literal, number + 1));
        if let Some(example) = regex_example(&literal) {
            candidates.push(example);
        }
        candidates.push(literal);
    }
    for found in numbers(&definition) {
        candidates.push(found.to_string());
        candidates.push((found + 1).to_string());
        // `length(code) = 3`, `octet_length(digest) = 32`: a value that long, the row's number
        // first so that rows differ on a unique column.
        if (1..=1024).contains(&found) {
            let width = found as usize;
            candidates.push(format!("{:a<width$}", number + 1));
            candidates.push("a".repeat(width));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    candidates.retain(|candidate| seen.insert(candidate.clone()));
    Ok(candidates
        .into_iter()
        .map(|value| {
            columns
                .iter()
                .map(|column| (column.clone(), value.clone()))
                .collect()
        })
        .collect())
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

/// A string a simple regular expression matches (`^[a-z][a-z0-9_]*$` gives `a`): anchors
/// dropped, a class gives its first member, an escape its class's example, optional parts left
/// out. `None` for what this does not read (alternation, groups, back-references).
fn regex_example(pattern: &str) -> Option<String> {
    let looks_like_regex = pattern.starts_with('^') || pattern.ends_with('$');
    if !looks_like_regex || pattern.contains(['|', '(', ')']) {
        return None;
    }
    let mut example = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(character) = chars.next() {
        let piece = match character {
            '^' | '$' => continue,
            '[' => {
                let mut class = String::new();
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    class.push(next);
                }
                let member = class.trim_start_matches('^').chars().find(|c| *c != '\\')?;
                if class.starts_with('^') {
                    'x'
                } else {
                    member
                }
            }
            '\\' => match chars.next()? {
                'd' => '1',
                'w' => 'a',
                's' => ' ',
                escaped => escaped,
            },
            '.' => 'x',
            other => other,
        };
        match chars.peek() {
            Some('*' | '?') => {
                chars.next();
            }
            Some('+') => {
                chars.next();
                example.push(piece);
            }
            Some('{') => {
                chars.next();
                let mut bounds = String::new();
                for next in chars.by_ref() {
                    if next == '}' {
                        break;
                    }
                    bounds.push(next);
                }
                let least: usize = bounds.split(',').next()?.trim().parse().ok()?;
                example.extend(std::iter::repeat_n(piece, least));
            }
            _ => example.push(piece),
        }
    }
    Some(example)
}

fn numbers(definition: &str) -> Vec<i64> {
    definition
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
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

/// What a query parameter that goes into (or is compared with) a column gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnValue {
    /// A literal with its cast, which the column's own CHECK constraints accept.
    Literal(String),
    /// A value of an existing row (a parent's key, a row to find), read by this query (one row,
    /// one literal) where the rows are.
    Existing(String),
}

/// How a query uses the column a parameter goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterUse {
    /// `INSERT ... VALUES`, `UPDATE ... SET`: a new value.
    Written,
    /// `WHERE column = $n`: a value some row holds.
    Compared,
}

/// At most this many accepted values per written column: the generated one, then the values the
/// CHECK constraints name (a new, narrower CHECK often refuses one of the old one's literals).
const VALUES_PER_COLUMN: usize = 4;

/// Values `table.column` takes, the way the generator makes one for a row: shaped by the
/// column's name and type, then by each CHECK constraint on that column alone (candidates kept
/// when the constraint, evaluated on them, accepts them); an existing row's value for a foreign
/// key or a compared column. `Err` when the column is unknown or no candidate passes.
pub fn values_for_column(
    client: &mut impl GenericClient,
    table: &str,
    column: &str,
    usage: ParameterUse,
) -> Result<Vec<ColumnValue>, String> {
    let columns = guarded(client, |client| {
        columns_of_one(client, table, Values::Every)
    })?;
    let target = columns
        .into_iter()
        .find(|candidate| candidate.name == column)
        .ok_or_else(|| format!("{table} has no column {column}"))?;
    let existing = match (&target.reference, usage) {
        (Some(reference), _) => Some((reference.parent.as_str(), reference.column.as_str())),
        (None, ParameterUse::Compared) => Some((table, column)),
        (None, ParameterUse::Written) => None,
    };
    if let Some((table, column)) = existing {
        return Ok(vec![ColumnValue::Existing(format!(
            "SELECT quote_literal({column}) || '::{}' FROM {table} WHERE {column} IS NOT NULL ORDER BY 1 LIMIT 1",
            target.type_name.replace('\'', "''"),
            column = quote_identifier(column),
        ))]);
    }
    let number = NEXT_ROW.fetch_add(1, Ordering::Relaxed);
    let mut candidates =
        vec![Generator::for_values(&mut *client).value(table, &target, 0, number)?];
    let checks: Vec<(String, String)> = guarded(client, |client| {
        client.query(
            "SELECT co.conname::text, pg_get_expr(co.conbin, co.conrelid)
             FROM pg_constraint co JOIN pg_attribute a
               ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
             WHERE co.conrelid = to_regclass($1) AND co.contype = 'c'
               AND cardinality(co.conkey) = 1 AND a.attname = $2",
            &[&table, &column],
        )
    })?
    .iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    for (constraint, _) in &checks {
        for suggestion in values_satisfying(client, table, constraint, number)? {
            for (_, value) in suggestion {
                candidates.push(format!("{}::{}", quote_literal(&value), target.type_name));
            }
        }
    }
    let mut accepted: Vec<ColumnValue> = Vec::new();
    for candidate in candidates {
        if accepted.len() < VALUES_PER_COLUMN
            && !accepted.contains(&ColumnValue::Literal(candidate.clone()))
            && passes_checks(client, &checks, column, &candidate)
        {
            accepted.push(ColumnValue::Literal(candidate));
        }
    }
    if accepted.is_empty() {
        return Err(format!(
            "no generated value passes the CHECK constraints of {table}.{column}"
        ));
    }
    Ok(accepted)
}

/// Whether every CHECK expression (on `column` alone) accepts `candidate`, evaluated as it would
/// be for a row holding it: NULL passes, as in a constraint.
fn passes_checks(
    client: &mut impl GenericClient,
    checks: &[(String, String)],
    column: &str,
    candidate: &str,
) -> bool {
    checks.iter().all(|(_, expression)| {
        let sql = format!(
            "SELECT ({expression}) IS NOT FALSE FROM (SELECT {candidate} AS {}) AS candidate",
            quote_identifier(column)
        );
        guarded(client, |client| client.query_one(&sql, &[])).is_ok_and(|row| row.get::<_, bool>(0))
    })
}

/// A generated value for a query parameter of type `type_oid`, as an SQL literal cast to that
/// type: the values `check-compat` runs an earlier release's queries with.
pub fn literal_for_type(
    client: &mut impl GenericClient,
    type_oid: u32,
    row: usize,
) -> Result<String, String> {
    let type_name: String = client
        .query_one("SELECT format_type($1, NULL)", &[&type_oid])
        .map_err(|error| message(&error))?
        .get(0);
    let parameter = Column {
        name: "parameter".to_owned(),
        type_name,
        type_oid,
        needs_value: true,
        reference: None,
    };
    // No table: a parameter references no parent.
    Generator::for_values(client).value("", &parameter, row, row)
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
            numbers("CHECK (priority >= 0 AND priority <= 4)"),
            vec![0, 4]
        );
    }

    #[test]
    fn simple_regular_expressions_give_a_matching_example() {
        assert_eq!(regex_example("^[a-z][a-z0-9_]*$").as_deref(), Some("a"));
        assert_eq!(
            regex_example("^\\d+\\.\\d+\\.\\d+$").as_deref(),
            Some("1.1.1")
        );
        assert_eq!(regex_example("^[A-Z]{3}$").as_deref(), Some("AAA"));
        assert_eq!(regex_example("^(a|b)$"), None);
        assert_eq!(regex_example("plain"), None);
    }

    #[test]
    fn column_names_shape_text_values() {
        assert_eq!(
            shaped_text("contact_email", "text", 3).as_deref(),
            Some("user3@example.com")
        );
        assert_eq!(
            shaped_text("version", "character varying(20)", 2).as_deref(),
            Some("1.0.2")
        );
        assert_eq!(shaped_text("version", "integer", 2), None);
        assert_eq!(shaped_text("title", "text", 2), None);
    }
}
