//! One generated value for a column, as an SQL literal with its cast: shaped by the column's
//! name and type, the first label of an enum, or for any other type the first candidate literal
//! its input function accepts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::GenericClient;

use crate::schema::data::catalog::{
    message, quote_identifier, quote_literal, unreferenced, Column,
};

static NEXT_ROW: AtomicUsize = AtomicUsize::new(0);

/// A number no other generated row of this process has: rows a no-transaction round-trip
/// leaves behind never collide with the next ones on a unique column.
pub(super) fn next_row_number() -> usize {
    NEXT_ROW.fetch_add(1, Ordering::Relaxed)
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

/// Makes the values of generated rows, remembering what each uncommon type accepts.
pub(super) struct ValueMaker {
    /// The shape of the text of the row being made: the first, or one a refused row moved on to.
    pub(super) shape: TextShape,
    /// The literal shape each uncommon type accepts, found once per type.
    templates: HashMap<u32, Option<&'static str>>,
}

impl ValueMaker {
    pub(super) fn new(shape: TextShape) -> ValueMaker {
        ValueMaker {
            shape,
            templates: HashMap::new(),
        }
    }

    /// The value of `column` in the `index`-th row of this fill, `number` unique in the process.
    pub(super) fn value(
        &mut self,
        client: &mut impl GenericClient,
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
            _ => return self.uncommon_value(client, column, n),
        };
        Ok(format!("{value}::{type_name}"))
    }

    /// Enums get their first label; any other type (a domain, `tsvector`, `ltree`, `oid`, a
    /// range, a geometric type) the first candidate literal its input function accepts.
    fn uncommon_value(
        &mut self,
        client: &mut impl GenericClient,
        column: &Column,
        n: usize,
    ) -> Result<String, String> {
        let type_name = &column.type_name;
        let label: Option<String> = client
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
                    let accepted = client.batch_execute(&probe).is_ok();
                    if !accepted {
                        let _ = client.batch_execute(
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

#[cfg(test)]
mod tests {
    use super::*;

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
