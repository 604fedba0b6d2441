//! A normalized, deterministic model of a database schema, read from the catalogs in-process,
//! rendered as reviewable text (`migrations/schema.snapshot`) and compared into readable differences.

use std::collections::BTreeMap;
use std::fmt;

use postgres::{GenericClient, Statement};

pub mod data;

const CATALOG_QUERY: &str = include_str!("catalog.sql");

/// Every object of a schema (`table tickets`, `function f(integer)`) with its attributes
/// (`column priority: default` → `0`). Ownership and privileges are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub objects: BTreeMap<String, BTreeMap<String, String>>,
}

/// Which objects to read: all, or those with these unqualified names (a table is also read when
/// one of its indexes is named).
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    All,
    Names(&'a [String]),
}

/// The attribute holding a relation's column names in order: compared as its own kind of difference.
pub const COLUMN_ORDER: &str = "column order";

/// The catalog query prepared once per connection, in its whole-schema and scoped forms, so that
/// repeated snapshots (four per migration in a round-trip) pay neither parsing nor planning.
pub struct SnapshotReader {
    all: Statement,
    scoped: Statement,
}

impl SnapshotReader {
    pub fn prepare(client: &mut impl GenericClient) -> Result<SnapshotReader, postgres::Error> {
        Ok(SnapshotReader {
            all: client.prepare(&CATALOG_QUERY.replace("/*ALL*/", "TRUE"))?,
            scoped: client.prepare(&CATALOG_QUERY.replace("/*ALL*/", "FALSE"))?,
        })
    }

    pub fn read(
        &self,
        client: &mut impl GenericClient,
        scope: Scope<'_>,
    ) -> Result<Snapshot, postgres::Error> {
        let rows = match scope {
            Scope::All => client.query(&self.all, &[&None::<Vec<String>>])?,
            Scope::Names(names) => client.query(&self.scoped, &[&names])?,
        };
        let mut snapshot = Snapshot::default();
        for row in rows {
            let value: Option<String> = row.get(2);
            snapshot
                .objects
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), value.unwrap_or_default().trim_end().to_owned());
        }
        Ok(snapshot)
    }
}

impl Snapshot {
    pub fn read(
        client: &mut impl GenericClient,
        scope: Scope<'_>,
    ) -> Result<Snapshot, postgres::Error> {
        SnapshotReader::prepare(client)?.read(client, scope)
    }

    /// The text form: one object a paragraph, `    attribute = value`, multi-line values
    /// continued on `        | ` lines. Stable for the same schema, whatever the server's order.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (object, attributes) in &self.objects {
            text.push_str(object);
            text.push('\n');
            for (attribute, value) in attributes {
                let mut lines = value.lines();
                match (lines.next(), value.contains('\n')) {
                    (Some(first), false) => text.push_str(&format!("    {attribute} = {first}\n")),
                    _ => {
                        text.push_str(&format!("    {attribute} =\n"));
                        for line in value.lines() {
                            if line.is_empty() {
                                text.push_str("        |\n");
                            } else {
                                text.push_str(&format!("        | {line}\n"));
                            }
                        }
                    }
                }
            }
            text.push('\n');
        }
        text
    }

    /// Reads back what [`Snapshot::render`] wrote; `#` lines are comments.
    pub fn parse(text: &str) -> Result<Snapshot, ParseError> {
        let mut snapshot = Snapshot::default();
        let mut object: Option<String> = None;
        let mut attribute: Option<String> = None;
        let mut first_continuation = false;
        for (index, line) in text.lines().enumerate() {
            let error = |message: &str| ParseError {
                line: index + 1,
                message: message.to_owned(),
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(continued) = line.strip_prefix("        |") {
                let (Some(object), Some(attribute)) = (&object, &attribute) else {
                    return Err(error("a continuation line outside an attribute"));
                };
                let value = snapshot
                    .objects
                    .get_mut(object)
                    .and_then(|attributes| attributes.get_mut(attribute))
                    .ok_or_else(|| error("a continuation line outside an attribute"))?;
                if !std::mem::take(&mut first_continuation) {
                    value.push('\n');
                }
                value.push_str(continued.strip_prefix(' ').unwrap_or(continued));
            } else if let Some(entry) = line.strip_prefix("    ") {
                let Some(current) = &object else {
                    return Err(error("an attribute before any object"));
                };
                let (key, value) = match entry.split_once(" = ") {
                    Some((key, value)) => (key, value),
                    None => (
                        entry
                            .strip_suffix(" =")
                            .ok_or_else(|| error("expected `attribute = value`"))?,
                        "",
                    ),
                };
                snapshot
                    .objects
                    .entry(current.clone())
                    .or_default()
                    .insert(key.to_owned(), value.to_owned());
                attribute = Some(key.to_owned());
                first_continuation = value.is_empty();
            } else {
                object = Some(line.to_owned());
                attribute = None;
                snapshot.objects.entry(line.to_owned()).or_default();
            }
        }
        Ok(snapshot)
    }

    /// What changed from `self` (before) to `after`, one readable line per difference.
    pub fn diff(&self, after: &Snapshot) -> Vec<Difference> {
        let mut differences = Vec::new();
        let none = BTreeMap::new();
        let objects: std::collections::BTreeSet<&String> =
            self.objects.keys().chain(after.objects.keys()).collect();
        for object in objects {
            match (self.objects.get(object), after.objects.get(object)) {
                (Some(_), None) => {
                    differences.push(Difference::definition(format!("{object}: removed")))
                }
                (None, Some(_)) => {
                    differences.push(Difference::definition(format!("{object}: added")))
                }
                (before, after) => {
                    let (before, after) = (before.unwrap_or(&none), after.unwrap_or(&none));
                    let attributes: std::collections::BTreeSet<&String> =
                        before.keys().chain(after.keys()).collect();
                    for attribute in attributes {
                        let (old, new) = (before.get(attribute), after.get(attribute));
                        if old == new {
                            continue;
                        }
                        let (kind, change) = match (old, new) {
                            (Some(old), Some(new)) => classify_change(attribute, old, new),
                            _ => (DifferenceKind::Definition, describe_change(old, new)),
                        };
                        differences.push(Difference {
                            kind,
                            text: format!("{object}: {attribute} {change}"),
                        });
                    }
                }
            }
        }
        differences
    }
}

/// What kind of difference two values of an attribute make, and how to say it. Text that
/// differs only where no query can tell (whitespace, the order a `SELECT *` view lists its
/// columns in after its table's order changed, a `'now'` literal PostgreSQL fixed when the view
/// was made) is told apart from a real change.
fn classify_change(attribute: &str, old: &String, new: &String) -> (DifferenceKind, String) {
    if attribute == COLUMN_ORDER {
        return (
            DifferenceKind::ColumnOrder,
            describe_change(Some(old), Some(new)),
        );
    }
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    if words(old) == words(new) {
        let line = old
            .lines()
            .zip(new.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return (
            DifferenceKind::Layout,
            format!(
                "differs only in whitespace, from line {}: {:?} -> {:?}",
                line + 1,
                old.lines().nth(line).unwrap_or(""),
                new.lines().nth(line).unwrap_or("")
            ),
        );
    }
    if old.contains('\n') && same_lines_in_another_order(old, new) {
        return (
            DifferenceKind::ColumnOrder,
            "lists the same columns in another order".to_owned(),
        );
    }
    if without_time_literals(old) == without_time_literals(new) {
        return (
            DifferenceKind::Layout,
            format!(
                "differs only in a date or time literal that PostgreSQL fixed when the object was \
                 created ('now', 'today'): {}",
                describe_change(Some(old), Some(new))
            ),
        );
    }
    (
        DifferenceKind::Definition,
        describe_change(Some(old), Some(new)),
    )
}

/// The lines of both, trimmed and without their trailing commas, are the same multiset.
fn same_lines_in_another_order(old: &str, new: &str) -> bool {
    fn sorted(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text
            .lines()
            .map(|line| line.trim().trim_end_matches(',').trim_end())
            .collect();
        lines.sort_unstable();
        lines
    }
    sorted(old) == sorted(new)
}

/// Quoted literals that read as a date or a time (`'2026-11-29 08:00:00'`) become `'…'`.
fn without_time_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('\'') {
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let end = after.find('\'').unwrap_or(after.len());
        let literal = &after[..end];
        let bytes = literal.as_bytes();
        let dated = bytes.len() >= 10
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[4] == b'-'
            && bytes[7] == b'-';
        out.push_str(if dated { "…" } else { literal });
        rest = &after[end..];
        if let Some(quote) = rest.strip_prefix('\'') {
            out.push('\'');
            rest = quote;
        }
    }
    out.push_str(rest);
    out
}

/// `0 -> (none)`, or for multi-line values (function bodies, view definitions) the first line
/// that differs.
fn describe_change(old: Option<&String>, new: Option<&String>) -> String {
    let show = |value: Option<&String>| value.map_or_else(|| "(none)".to_owned(), Clone::clone);
    let multi_line = old.is_some_and(|v| v.contains('\n')) || new.is_some_and(|v| v.contains('\n'));
    if !multi_line {
        return format!("{} -> {}", show(old), show(new));
    }
    let (old, new) = (
        old.map_or("", String::as_str),
        new.map_or("", String::as_str),
    );
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (old.lines().collect(), new.lines().collect());
    let line = (0..old_lines.len().max(new_lines.len()))
        .find(|&index| old_lines.get(index) != new_lines.get(index))
        .unwrap_or(0);
    let quoted = |lines: &[&str]| {
        lines
            .get(line)
            .map_or_else(|| "(none)".to_owned(), |text| format!("{:?}", text.trim()))
    };
    format!(
        "changed at line {}: {} -> {}",
        line + 1,
        quoted(&old_lines),
        quoted(&new_lines)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// Something a query or a constraint can observe.
    Definition,
    /// Only the position of columns differs (a dropped and re-added column lands at the end).
    ColumnOrder,
    /// Only the text differs where nothing can observe it (whitespace, a folded `'now'`).
    Layout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub text: String,
}

impl DifferenceKind {
    /// Whether a check fails on this kind of difference, or only warns about it.
    pub fn fails(self, strict_column_order: bool) -> bool {
        match self {
            DifferenceKind::Definition => true,
            DifferenceKind::ColumnOrder => strict_column_order,
            DifferenceKind::Layout => false,
        }
    }
}

impl Difference {
    fn definition(text: String) -> Difference {
        Difference {
            kind: DifferenceKind::Definition,
            text,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Constraints added `NOT VALID` and never validated (`name on table`): existing rows are
/// unchecked until `ALTER TABLE ... VALIDATE CONSTRAINT`.
pub fn not_valid_constraints(
    client: &mut impl GenericClient,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT format('%s on %s', quote_ident(conname), conrelid::regclass) FROM pg_constraint
         WHERE NOT convalidated AND conrelid <> 0 ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(entries: &[(&str, &str, &str)]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (object, attribute, value) in entries {
            snapshot
                .objects
                .entry((*object).to_owned())
                .or_default()
                .insert((*attribute).to_owned(), (*value).to_owned());
        }
        snapshot
    }

    #[test]
    fn renders_and_parses_back() {
        let original = snapshot(&[
            ("table tickets", "column priority: default", "0"),
            ("table tickets", "column order", "id, priority"),
            (
                "function f()",
                "definition",
                "CREATE FUNCTION f()\n\n  RETURNS int = 1\nAS $$ x $$",
            ),
            ("schema public", "exists", "yes"),
        ]);
        let text = original.render();
        assert!(
            text.contains("table tickets\n    column order = id, priority\n"),
            "{text}"
        );
        assert_eq!(Snapshot::parse(&text).unwrap(), original);
    }

    #[test]
    fn differences_read_like_sentences() {
        let before = snapshot(&[
            ("table tickets", "column priority: default", "0"),
            ("table tickets", "column order", "id, priority, title"),
            ("table gone", "exists", "yes"),
            ("function f()", "definition", "BEGIN\n  RETURN NEW;\nEND"),
        ]);
        let after = snapshot(&[
            ("table tickets", "column order", "id, title, priority"),
            ("function f()", "definition", "BEGIN\n  RETURN OLD;\nEND"),
        ]);
        let texts: Vec<String> = before
            .diff(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            texts,
            vec![
                "function f(): definition changed at line 2: \"RETURN NEW;\" -> \"RETURN OLD;\"",
                "table gone: removed",
                "table tickets: column order id, priority, title -> id, title, priority",
                "table tickets: column priority: default 0 -> (none)",
            ]
        );
        let kinds: Vec<DifferenceKind> = before.diff(&after).iter().map(|d| d.kind).collect();
        assert_eq!(kinds[2], DifferenceKind::ColumnOrder);
        assert!(before.diff(&before).is_empty());
    }
}
