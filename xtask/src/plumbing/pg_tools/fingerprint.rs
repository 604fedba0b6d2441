//! Table fingerprints (row count and an order-independent content checksum) and how two sets of
//! them differ, as values: a backup against its source, a database after a rollback against
//! before the deploy.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use migrations::database::quote_identifier;
use postgres::GenericClient;

/// A table's row count and an order-independent content checksum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    pub rows: i64,
    pub checksum: String,
}

/// Every user table (`schema.table`) with its fingerprint, extension-owned tables aside (pg_dump
/// leaves their rows out too).
///
/// The checksum is the sum, as numeric, of the first 64 bits of each row's `md5(row::text)`: an
/// order-independent multiset hash, so it streams in one sequential scan with constant memory.
/// `md5(string_agg(row::text ORDER BY row::text))` would sort the whole table and build one
/// string of its size, which fails above 1 GB. The session pins the settings that change a row's
/// text (time zone, date and float formats) so two servers or sessions render rows alike.
pub fn fingerprints(client: &mut impl GenericClient) -> Result<BTreeMap<String, Fingerprint>> {
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
             SET extra_float_digits = 3; SET bytea_output = 'hex'",
        )
        .context("preparing to fingerprint tables")?;
    let tables: Vec<(String, String)> = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r'
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
               AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY 1, 2",
            &[],
        )
        .context("listing tables")?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut result = BTreeMap::new();
    for (schema, table) in tables {
        let qualified = format!("{}.{}", quote_identifier(&schema), quote_identifier(&table));
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(sum(('x' || left(md5(ROW(r.*)::text), 16))::bit(64)::int8::numeric), 0)::text
                     FROM {qualified} AS r"
                ),
                &[],
            )
            .with_context(|| format!("fingerprinting table {qualified}"))?;
        result.insert(
            format!("{schema}.{table}"),
            Fingerprint {
                rows: row.get(0),
                checksum: row.get(1),
            },
        );
    }
    Ok(result)
}

/// How one table's data differs between two fingerprints of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDifference {
    /// `schema.table`
    pub table: String,
    pub kind: DifferenceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// There before, gone after.
    Missing,
    /// Not there before, there after.
    New,
    RowCount {
        before: i64,
        after: i64,
    },
    /// The same number of rows, other content.
    Content {
        rows: i64,
    },
}

impl fmt::Display for TableDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = &self.table;
        match self.kind {
            DifferenceKind::Missing => write!(f, "{table}: missing"),
            DifferenceKind::New => write!(f, "{table}: not there before"),
            DifferenceKind::RowCount { before, after } => {
                write!(f, "{table}: {after} rows instead of {before}")
            }
            DifferenceKind::Content { rows } => {
                write!(f, "{table}: same {rows} rows, different content")
            }
        }
    }
}

/// How `after` differs from `before`, one difference per table (those of `before` in order,
/// then the new ones); empty when equal.
pub fn compare_fingerprints(
    before: &BTreeMap<String, Fingerprint>,
    after: &BTreeMap<String, Fingerprint>,
) -> Vec<TableDifference> {
    let changed = before.iter().filter_map(|(table, old)| {
        let kind = match after.get(table) {
            None => DifferenceKind::Missing,
            Some(new) if new.rows != old.rows => DifferenceKind::RowCount {
                before: old.rows,
                after: new.rows,
            },
            Some(new) if new.checksum != old.checksum => DifferenceKind::Content { rows: new.rows },
            Some(_) => return None,
        };
        Some(TableDifference {
            table: table.clone(),
            kind,
        })
    });
    let new = after
        .keys()
        .filter(|table| !before.contains_key(*table))
        .map(|table| TableDifference {
            table: table.clone(),
            kind: DifferenceKind::New,
        });
    changed.chain(new).collect()
}

/// The differences as one sentence, `; `-separated, for an error message.
pub fn describe_differences(differences: &[TableDifference]) -> String {
    differences
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_table_and_the_kind() {
        let print = |rows, checksum: &str| Fingerprint {
            rows,
            checksum: checksum.to_owned(),
        };
        let before = BTreeMap::from([
            ("public.a".to_owned(), print(1, "x")),
            ("public.b".to_owned(), print(2, "y")),
            ("public.c".to_owned(), print(3, "z")),
            ("public.same".to_owned(), print(4, "w")),
        ]);
        let after = BTreeMap::from([
            ("public.b".to_owned(), print(3, "y")),
            ("public.c".to_owned(), print(3, "other")),
            ("public.d".to_owned(), print(0, "0")),
            ("public.same".to_owned(), print(4, "w")),
        ]);
        let differences = compare_fingerprints(&before, &after);
        let kinds: Vec<(&str, DifferenceKind)> = differences
            .iter()
            .map(|difference| (difference.table.as_str(), difference.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("public.a", DifferenceKind::Missing),
                (
                    "public.b",
                    DifferenceKind::RowCount {
                        before: 2,
                        after: 3
                    }
                ),
                ("public.c", DifferenceKind::Content { rows: 3 }),
                ("public.d", DifferenceKind::New),
            ]
        );
        assert_eq!(
            describe_differences(&differences),
            "public.a: missing; public.b: 3 rows instead of 2; public.c: same 3 rows, different content; public.d: not there before"
        );
        assert!(compare_fingerprints(&before, &before).is_empty());
    }
}
