//! The values a query parameter takes in the column it feeds, or as a value of its type alone:
//! what `check-compat` runs an earlier release's queries with.

use postgres::GenericClient;

use crate::schema::data::catalog::{
    columns_of_one, guarded, message, quote_identifier, quote_literal, Column, Values,
};
use crate::schema::data::check_constraints::values_satisfying;
use crate::schema::data::values::{next_row_number, TextShape, ValueMaker};

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
    let number = next_row_number();
    let mut candidates =
        vec![ValueMaker::new(TextShape::Word).value(client, table, &target, 0, number)?];
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
    ValueMaker::new(TextShape::Word).value(client, "", &parameter, row, row)
}
