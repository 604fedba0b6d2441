//! The application's own queries, as the linter knows them: what each query the backend runs
//! (its `.sqlx/` offline data) reads, writes and calls. A migration that takes one of those away
//! breaks the version still running, which is what makes a change multi-step.
//!
//! Names are compared without their schema, as the rest of the linter does. Columns are resolved
//! per query, not per subquery level: an unqualified column is attributed to every table of the
//! query that has it, so a query may be said to use more than it does, never less.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use migrations::schema::data::ParameterUse;
use serde_json::Value;

use crate::plumbing::sqlx_data::RecordedQuery;

/// The backend's queries, in file name order.
#[derive(Debug, Default)]
pub struct Application {
    queries: Vec<Query>,
}

/// How a query touches a table or column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Reads,
    Writes,
}

#[derive(Debug)]
pub struct Query {
    /// `.sqlx/query-<hash>.json`.
    pub file: String,
    /// The SQL's first line, with ` ...` when there is more.
    pub first_line: String,
    /// Tables and views by name.
    relations: BTreeMap<String, Access>,
    columns: Vec<ColumnUse>,
    /// Tables whose every column the query uses (`*`, `INSERT` without a column list).
    every_column: BTreeMap<String, Access>,
    functions: BTreeSet<String>,
    inserts: Vec<Insert>,
}

#[derive(Debug)]
struct ColumnUse {
    /// `None` when written without a table: resolved against the catalog when asked.
    table: Option<String>,
    column: String,
    access: Access,
}

#[derive(Debug)]
struct Insert {
    table: String,
    /// The columns it sets; `None`: all of them.
    columns: Option<BTreeSet<String>>,
}

impl Application {
    /// The queries in `.sqlx/` of the nearest folder at or above `migrations` that has one; `None`
    /// when none does (a migrations folder outside the project, whose application is unknown).
    pub fn find(migrations: &Path) -> Option<Application> {
        let start = migrations.canonicalize().ok()?;
        let dir = start
            .ancestors()
            .map(|folder| folder.join(".sqlx"))
            .find(|dir| dir.is_dir())?;
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect();
        files.sort();
        // A file sqlx cannot have written is skipped: the backend would not compile with it, and
        // `check-compat` prepares the real queries on a database.
        let queries = files.iter().filter_map(|path| {
            let name = path.file_name()?.to_string_lossy();
            let text = std::fs::read_to_string(path).ok()?;
            RecordedQuery::parse(&text, format!(".sqlx/{name}")).ok()
        });
        Some(Application::of(queries))
    }

    /// The application that runs `queries`; one the parser refuses is left out.
    pub fn of(queries: impl IntoIterator<Item = RecordedQuery>) -> Application {
        Application {
            queries: queries
                .into_iter()
                .filter_map(|recorded| Query::parse(&recorded.query, recorded.file))
                .collect(),
        }
    }

    pub fn queries(&self) -> &[Query] {
        &self.queries
    }
}

impl Query {
    fn parse(sql: &str, file: String) -> Option<Query> {
        let tree = pg_query::parse(sql, 0).ok()?.protobuf;
        // The serialized tree reaches every node (pg_query's own walk skips RETURNING lists and
        // INSERT column lists), so nothing a query names is missed.
        let tree = serde_json::to_value(&tree).ok()?;
        let mut found = Found::default();
        found.visit(&tree);
        let mut lines = sql.trim().lines();
        let first_line = lines.next().unwrap_or_default().trim().to_owned();
        let first_line = if lines.next().is_some() {
            format!("{first_line} ...")
        } else {
            first_line
        };
        Some(found.into_query(file, first_line))
    }

    pub fn relation(&self, name: &str) -> Option<Access> {
        self.relations.get(name).copied()
    }

    /// How the query uses `table.column`; `has_column` says what the catalog knows, to place
    /// the columns it names without a table.
    pub fn column(
        &self,
        table: &str,
        column: &str,
        has_column: impl Fn(&str, &str) -> bool,
    ) -> Option<Access> {
        let named = self.columns.iter().find(|used| {
            used.column == column
                && match &used.table {
                    Some(named) => named == table,
                    None => {
                        self.relations.contains_key(table)
                            && (has_column(table, column)
                                || !self
                                    .relations
                                    .keys()
                                    .any(|candidate| has_column(candidate, column)))
                    }
                }
        });
        named
            .map(|used| used.access)
            .or_else(|| self.every_column.get(table).copied())
    }

    pub fn calls(&self, function: &str) -> bool {
        self.functions.contains(function)
    }

    /// An `INSERT` into `table` that leaves `column` to its default.
    pub fn inserts_without(&self, table: &str, column: &str) -> bool {
        self.inserts.iter().any(|insert| {
            insert.table == table
                && insert
                    .columns
                    .as_ref()
                    .is_some_and(|columns| !columns.contains(column))
        })
    }
}

/// What a walk over one query's serialized parse tree collected, before names are resolved.
#[derive(Default)]
struct Found {
    relations: BTreeMap<String, Access>,
    /// Alias (or table name) -> table.
    aliases: BTreeMap<String, String>,
    ctes: BTreeSet<String>,
    /// (qualifier, column, access); a qualifier `None` for unqualified names, `*` for stars.
    columns: Vec<(Option<String>, String, Access)>,
    functions: BTreeSet<String>,
    inserts: Vec<Insert>,
}

impl Found {
    fn visit(&mut self, value: &Value) {
        each_node(value, &mut |kind, node| self.node(kind, node));
    }

    /// One node, by its variant name in the tree.
    fn node(&mut self, kind: &str, node: &Value) {
        match kind {
            "RangeVar" => {
                self.relation(node, Access::Reads);
            }
            "CommonTableExpr" => {
                if let Some(name) = node["ctename"].as_str() {
                    self.ctes.insert(name.to_owned());
                }
            }
            "ColumnRef" => {
                let fields = node["fields"].as_array().map_or(&[][..], Vec::as_slice);
                let names: Vec<Option<&str>> = fields
                    .iter()
                    .map(|field| field["node"]["String"]["sval"].as_str())
                    .collect();
                let qualifier = match names.as_slice() {
                    [.., Some(table), _] => Some((*table).to_owned()),
                    _ => None,
                };
                let column = names.last().copied().flatten().unwrap_or("*");
                self.columns
                    .push((qualifier, column.to_owned(), Access::Reads));
            }
            "FuncCall" => {
                if let Some(name) = names(&node["funcname"]).last() {
                    self.functions.insert((*name).to_owned());
                }
            }
            "InsertStmt" => {
                let table = self.relation(&node["relation"], Access::Writes);
                let columns: BTreeSet<String> = res_target_names(&node["cols"]).collect();
                for column in &columns {
                    self.columns
                        .push((table.clone(), column.clone(), Access::Writes));
                }
                if let Some(table) = table {
                    let columns = (!columns.is_empty()).then_some(columns);
                    if columns.is_none() {
                        self.columns
                            .push((Some(table.clone()), "*".into(), Access::Writes));
                    }
                    self.inserts.push(Insert { table, columns });
                }
            }
            "UpdateStmt" => {
                let table = self.relation(&node["relation"], Access::Writes);
                for column in res_target_names(&node["target_list"]) {
                    self.columns.push((table.clone(), column, Access::Writes));
                }
            }
            "DeleteStmt" => {
                self.relation(&node["relation"], Access::Writes);
            }
            _ => {}
        }
    }

    /// Records a `RangeVar` and its alias; returns its name.
    fn relation(&mut self, range_var: &Value, access: Access) -> Option<String> {
        let name = range_var["relname"].as_str()?.to_owned();
        let alias = range_var["alias"]["aliasname"].as_str().unwrap_or(&name);
        self.aliases.insert(alias.to_owned(), name.clone());
        let recorded = self.relations.entry(name.clone()).or_insert(access);
        if access == Access::Writes {
            *recorded = Access::Writes;
        }
        Some(name)
    }

    fn into_query(mut self, file: String, first_line: String) -> Query {
        // A CTE's name is the query's own, not a table.
        for cte in &self.ctes {
            self.relations.remove(cte);
            self.aliases.retain(|_, table| table != cte);
        }
        let mut columns = Vec::new();
        let mut every_column = BTreeMap::new();
        for (qualifier, column, access) in self.columns {
            // A qualifier that names no table is a subquery's or a CTE's alias: what it reads
            // is recorded from the subquery itself.
            let table = match qualifier {
                Some(qualifier) => match self.aliases.get(&qualifier) {
                    Some(table) => Some(table.clone()),
                    None => continue,
                },
                None => None,
            };
            if column == "*" {
                let tables = match table {
                    Some(table) => vec![table],
                    None => self.relations.keys().cloned().collect(),
                };
                for table in tables {
                    every_column.entry(table).or_insert(access);
                }
            } else {
                columns.push(ColumnUse {
                    table,
                    column,
                    access,
                });
            }
        }
        Query {
            file,
            first_line,
            relations: self.relations,
            columns,
            every_column,
            functions: self.functions,
            inserts: self.inserts,
        }
    }
}

/// Where a parameter goes: `table.column`, written or compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterColumn {
    pub table: String,
    pub column: String,
    pub usage: ParameterUse,
}

/// The column each parameter of `sql` is written to or compared with (`$1` → `tickets.title`),
/// where the query says so plainly: an `INSERT`'s `VALUES`, an `UPDATE`'s `SET`, `column = $n`.
/// An unqualified column is placed only when the query names one table; a parameter used twice
/// takes its first place.
pub fn parameter_columns(sql: &str) -> BTreeMap<i32, ParameterColumn> {
    let Some(tree) = pg_query::parse(sql, 0)
        .ok()
        .and_then(|parsed| serde_json::to_value(&parsed.protobuf).ok())
    else {
        return BTreeMap::new();
    };
    let mut found = Found::default();
    found.visit(&tree);
    let mut columns = BTreeMap::new();
    each_node(&tree, &mut |kind, node| {
        let placed = match kind {
            "InsertStmt" => inserted_parameters(node),
            "UpdateStmt" => updated_parameters(node),
            "AExpr" if names(&node["name"]) == ["="] => compared_parameters(node, &found),
            _ => Vec::new(),
        };
        for (number, column) in placed {
            columns.entry(number).or_insert(column);
        }
    });
    columns
}

fn written(table: &str, column: &str) -> ParameterColumn {
    ParameterColumn {
        table: table.to_owned(),
        column: column.to_owned(),
        usage: ParameterUse::Written,
    }
}

/// The parameters of an `INSERT`'s `VALUES` rows, each with the column it fills.
fn inserted_parameters(node: &Value) -> Vec<(i32, ParameterColumn)> {
    let Some(table) = node["relation"]["relname"].as_str() else {
        return Vec::new();
    };
    let targets: Vec<String> = res_target_names(&node["cols"]).collect();
    let rows = node["select_stmt"]["node"]["SelectStmt"]["values_lists"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut placed = Vec::new();
    for row in rows {
        let items = row["node"]["List"]["items"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        for (item, target) in items.iter().zip(&targets) {
            if let Some(number) = parameter_number(item) {
                placed.push((number, written(table, target)));
            }
        }
    }
    placed
}

/// The parameters of an `UPDATE`'s `SET`, each with the column it sets.
fn updated_parameters(node: &Value) -> Vec<(i32, ParameterColumn)> {
    let Some(table) = node["relation"]["relname"].as_str() else {
        return Vec::new();
    };
    node["target_list"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|target| {
            let target = &target["node"]["ResTarget"];
            let column = target["name"].as_str()?;
            let number = parameter_number(&target["val"])?;
            Some((number, written(table, column)))
        })
        .collect()
}

/// The parameter of `column = $n` (either way round), with the column it is compared with. An
/// unqualified column is placed only when the query names one table.
fn compared_parameters(node: &Value, found: &Found) -> Vec<(i32, ParameterColumn)> {
    let only_table = (found.relations.len() == 1)
        .then(|| found.relations.keys().next().cloned())
        .flatten();
    let column_of = |column_ref: &Value| -> Option<ParameterColumn> {
        let names = names(&column_ref["fields"]);
        let (table, column) = match names.as_slice() {
            [.., qualifier, column] => (found.aliases.get(*qualifier)?.clone(), *column),
            [column] => (only_table.clone()?, *column),
            [] => return None,
        };
        Some(ParameterColumn {
            table,
            column: column.to_owned(),
            usage: ParameterUse::Compared,
        })
    };
    [("lexpr", "rexpr"), ("rexpr", "lexpr")]
        .into_iter()
        .filter_map(|(one, other)| {
            let number = parameter_number(&node[one])?;
            let column = node[other]["node"].get("ColumnRef").and_then(&column_of)?;
            Some((number, column))
        })
        .collect()
}

/// `$n` in a serialized expression node, through a cast.
fn parameter_number(node: &Value) -> Option<i32> {
    let inner = &node["node"];
    match inner.get("TypeCast") {
        Some(cast) => parameter_number(&cast["arg"]),
        None => inner["ParamRef"]["number"]
            .as_i64()
            .and_then(|number| i32::try_from(number).ok()),
    }
}

/// Calls `visit` with every node of a serialized parse tree and its variant name.
fn each_node(value: &Value, visit: &mut impl FnMut(&str, &Value)) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| each_node(item, visit)),
        Value::Object(fields) => {
            for (key, inner) in fields {
                visit(key, inner);
                each_node(inner, visit);
            }
        }
        _ => {}
    }
}

/// The strings of a serialized name list.
fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|item| item["node"]["String"]["sval"].as_str())
        .collect()
}

/// The column names of a serialized `ResTarget` list (`INSERT` columns, `UPDATE ... SET`).
fn res_target_names(list: &Value) -> impl Iterator<Item = String> + '_ {
    list.as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|item| item["node"]["ResTarget"]["name"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
pub mod test_support {
    use super::*;
    use crate::plumbing::sqlx_data::Describe;

    /// An application running `queries`, named `.sqlx/query-<index>.json`.
    pub fn application(queries: &[&str]) -> Application {
        Application::of(
            queries
                .iter()
                .enumerate()
                .map(|(index, sql)| RecordedQuery {
                    query: (*sql).to_owned(),
                    describe: Describe {
                        columns: Vec::new(),
                    },
                    file: format!(".sqlx/query-{index}.json"),
                }),
        )
    }
}

#[cfg(test)]
mod tests;
