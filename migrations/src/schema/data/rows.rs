//! Filling tables with generated rows: parents before children, all rows in one statement when
//! the plain values pass, else row by row, reading the CHECK constraints that refuse them. A
//! table that cannot be filled is left as it was and reported.

use std::collections::BTreeMap;
use std::fmt;

use postgres::error::SqlState;
use postgres::GenericClient;

use crate::schema::data::catalog::{
    columns, columns_of_one, guarded, message, quote_identifier, quote_literal, unreferenced,
    Column, Values,
};
use crate::schema::data::check_constraints::values_satisfying;
use crate::schema::data::values::{next_row_number, TextShape, ValueMaker};

/// How many rows each table gets: two, so a unique constraint the rollback re-adds meets more than one row.
pub const ROWS_PER_TABLE: usize = 2;
const MAX_PARENT_DEPTH: usize = 6;
/// Inserts tried for one row before giving up on the CHECK constraints that refuse it.
const MAX_ATTEMPTS: usize = 12;

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
        maker: ValueMaker::new(shape),
        filled: Filled::default(),
    };
    generator.fill_named(names);
    generator.filled
}

struct Generator<'c, C: GenericClient> {
    client: &'c mut C,
    values: Values,
    rows: usize,
    first_shape: TextShape,
    /// Makes the values of the row being inserted, in its shape.
    maker: ValueMaker,
    filled: Filled,
}

/// A failure that stops a table's fill, naming the table at fault.
struct Refused {
    table: String,
    reason: String,
}

impl<'c, C: GenericClient> Generator<'c, C> {
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
        let rows_before_parents = self.fill_missing_parents(table, columns, count, depth)?;
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
        let numbers: Vec<usize> = (0..count).map(|_| next_row_number()).collect();
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

    /// Gives each foreign key of `table` the parent rows `count` new rows need, filling the
    /// parents that lack some. Returns the table's rows before any parent was filled, `None`
    /// when none was.
    fn fill_missing_parents(
        &mut self,
        table: &str,
        columns: &[Column],
        count: usize,
        depth: usize,
    ) -> Result<Option<i64>, Refused> {
        let refused = |reason: String| Refused {
            table: table.to_owned(),
            reason,
        };
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
        Ok(rows_before_parents)
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
        self.maker.shape = self.first_shape;
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
                        self.maker.shape = shape;
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
                    None => self.maker.value(self.client, table, column, index, number),
                },
            )
            .collect()
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
