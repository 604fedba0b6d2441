//! What the migrations so far have built, as far as rules need it: each table's columns with
//! their types, and which columns are proven NOT NULL. The runner replays the up files in version
//! order, so a rule knows the type a column had before `ALTER COLUMN ... TYPE` and whether a
//! validated `CHECK (col IS NOT NULL)` already makes `SET NOT NULL` a catalog-only change.

use std::collections::{HashMap, HashSet};
use std::fmt;

use pg_query::protobuf::{
    a_const, AlterTableType, ConstrType, Constraint, NullTestType, ObjectType, TypeName,
};
use pg_query::{Node, NodeEnum};

use super::sql::{self, strings};

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: HashMap<String, Table>,
}

#[derive(Debug, Clone, Default)]
struct Table {
    columns: HashMap<String, ColumnType>,
    not_null: HashSet<String>,
    /// `CHECK (column IS NOT NULL)` constraints by name: (column, validated).
    not_null_checks: HashMap<String, (String, bool)>,
}

/// A column type as PostgreSQL names it internally (`int4`, `varchar(50)`, `text[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub name: String,
    pub modifiers: Vec<i64>,
    pub array: bool,
}

impl ColumnType {
    pub fn of(type_name: &TypeName) -> ColumnType {
        let modifiers = type_name
            .typmods
            .iter()
            .filter_map(|node| match &node.node {
                Some(NodeEnum::AConst(constant)) => match &constant.val {
                    Some(a_const::Val::Ival(integer)) => Some(i64::from(integer.ival)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        ColumnType {
            name: sql::last_name(&type_name.names)
                .unwrap_or_default()
                .to_owned(),
            modifiers,
            array: !type_name.array_bounds.is_empty(),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.modifiers.is_empty() {
            let modifiers: Vec<String> = self.modifiers.iter().map(i64::to_string).collect();
            write!(f, "({})", modifiers.join(","))?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

impl Catalog {
    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables.get(table)?.columns.get(column)
    }

    /// NOT NULL already, or covered by a validated `CHECK (column IS NOT NULL)`.
    pub fn proves_not_null(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|table| {
            table.not_null.contains(column)
                || table
                    .not_null_checks
                    .values()
                    .any(|(checked, validated)| checked == column && *validated)
        })
    }

    /// Records what one statement does to the schema.
    pub fn apply(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::CreateStmt(create) => {
                let Some(relation) = &create.relation else {
                    return;
                };
                let table = self.tables.entry(relation.relname.clone()).or_default();
                for element in &create.table_elts {
                    match &element.node {
                        Some(NodeEnum::ColumnDef(column)) => {
                            table.add_column(column);
                        }
                        Some(NodeEnum::Constraint(constraint)) => {
                            table.add_constraint(constraint);
                        }
                        _ => {}
                    }
                }
            }
            NodeEnum::AlterTableStmt(_) => {
                for (relation, command) in sql::alter_table_commands(node) {
                    let table = self.tables.entry(relation.relname.clone()).or_default();
                    table.alter(command.subtype(), &command.name, command.def.as_deref());
                }
            }
            NodeEnum::RenameStmt(rename) => {
                let Some(relation) = &rename.relation else {
                    return;
                };
                match rename.rename_type() {
                    ObjectType::ObjectTable => {
                        if let Some(table) = self.tables.remove(&relation.relname) {
                            self.tables.insert(rename.newname.clone(), table);
                        }
                    }
                    ObjectType::ObjectColumn => {
                        if let Some(table) = self.tables.get_mut(&relation.relname) {
                            table.rename_column(&rename.subname, &rename.newname);
                        }
                    }
                    _ => {}
                }
            }
            NodeEnum::DropStmt(drop) if drop.remove_type() == ObjectType::ObjectTable => {
                for object in &drop.objects {
                    if let Some(NodeEnum::List(name)) = &object.node {
                        if let Some(table) = sql::last_name(&name.items) {
                            self.tables.remove(table);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl Table {
    fn add_column(&mut self, column: &pg_query::protobuf::ColumnDef) {
        if let Some(type_name) = &column.type_name {
            self.columns
                .insert(column.colname.clone(), ColumnType::of(type_name));
        }
        let not_null = column.is_not_null
            || sql::column_constraints(column).any(|constraint| {
                matches!(
                    constraint.contype(),
                    ConstrType::ConstrNotnull | ConstrType::ConstrPrimary
                )
            });
        if not_null {
            self.not_null.insert(column.colname.clone());
        }
    }

    fn add_constraint(&mut self, constraint: &Constraint) {
        match constraint.contype() {
            ConstrType::ConstrPrimary | ConstrType::ConstrNotnull => {
                self.not_null
                    .extend(strings(&constraint.keys).map(str::to_owned));
            }
            ConstrType::ConstrCheck => {
                if let Some(column) = not_null_test(constraint.raw_expr.as_deref()) {
                    self.not_null_checks.insert(
                        constraint.conname.clone(),
                        (column.to_owned(), !constraint.skip_validation),
                    );
                }
            }
            _ => {}
        }
    }

    fn alter(&mut self, command: AlterTableType, name: &str, definition: Option<&Node>) {
        let definition = definition.and_then(|node| node.node.as_ref());
        match (command, definition) {
            (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(column))) => {
                self.add_column(column)
            }
            (AlterTableType::AtDropColumn, _) => {
                self.columns.remove(name);
                self.not_null.remove(name);
            }
            (AlterTableType::AtAlterColumnType, Some(NodeEnum::ColumnDef(column))) => {
                if let Some(type_name) = &column.type_name {
                    self.columns
                        .insert(name.to_owned(), ColumnType::of(type_name));
                }
            }
            (AlterTableType::AtSetNotNull, _) => {
                self.not_null.insert(name.to_owned());
            }
            (AlterTableType::AtDropNotNull, _) => {
                self.not_null.remove(name);
            }
            (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(constraint))) => {
                self.add_constraint(constraint)
            }
            (AlterTableType::AtValidateConstraint, _) => {
                if let Some((_, validated)) = self.not_null_checks.get_mut(name) {
                    *validated = true;
                }
            }
            (AlterTableType::AtDropConstraint, _) => {
                self.not_null_checks.remove(name);
            }
            _ => {}
        }
    }

    fn rename_column(&mut self, old: &str, new: &str) {
        if let Some(column_type) = self.columns.remove(old) {
            self.columns.insert(new.to_owned(), column_type);
        }
        if self.not_null.remove(old) {
            self.not_null.insert(new.to_owned());
        }
        for (column, _) in self.not_null_checks.values_mut() {
            if column == old {
                new.clone_into(column);
            }
        }
    }
}

/// `column IS NOT NULL`: the column a CHECK proves non-null.
fn not_null_test(expression: Option<&Node>) -> Option<&str> {
    let Some(NodeEnum::NullTest(test)) = expression?.node.as_ref() else {
        return None;
    };
    if test.nulltesttype() != NullTestType::IsNotNull {
        return None;
    }
    match test.arg.as_deref()?.node.as_ref()? {
        NodeEnum::ColumnRef(column) => sql::last_name(&column.fields),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(sql: &str) -> Catalog {
        let mut catalog = Catalog::default();
        for statement in sql::parse(sql).statements {
            catalog.apply(&statement.node);
        }
        catalog
    }

    #[test]
    fn follows_column_types_through_changes_and_renames() {
        let catalog = replay(
            "CREATE TABLE t (id bigint, name varchar(50), tags text[], price numeric(10, 2));\n\
             ALTER TABLE t ALTER COLUMN name TYPE varchar(80), ADD COLUMN note text;\n\
             ALTER TABLE t RENAME COLUMN note TO remark;\n\
             ALTER TABLE t RENAME TO u;",
        );
        let types = |column| catalog.column_type("u", column).map(ToString::to_string);
        assert_eq!(types("id").as_deref(), Some("int8"));
        assert_eq!(types("name").as_deref(), Some("varchar(80)"));
        assert_eq!(types("tags").as_deref(), Some("text[]"));
        assert_eq!(types("price").as_deref(), Some("numeric(10,2)"));
        assert_eq!(types("remark").as_deref(), Some("text"));
        assert_eq!(catalog.column_type("t", "id"), None);
    }

    #[test]
    fn a_validated_not_null_check_proves_the_column() {
        let mut catalog = replay(
            "CREATE TABLE t (id bigint PRIMARY KEY, a text, b text NOT NULL);\n\
             ALTER TABLE t ADD CONSTRAINT a_not_null CHECK (a IS NOT NULL) NOT VALID;",
        );
        assert!(catalog.proves_not_null("t", "id"));
        assert!(catalog.proves_not_null("t", "b"));
        assert!(!catalog.proves_not_null("t", "a"));
        for statement in
            sql::parse("ALTER TABLE t VALIDATE CONSTRAINT a_not_null;").statements
        {
            catalog.apply(&statement.node);
        }
        assert!(catalog.proves_not_null("t", "a"));
    }
}
