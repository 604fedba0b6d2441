//! What the migrations so far have built, as far as rules need it: each table's columns with
//! their types, and which columns are proven NOT NULL. The runner replays the up files in version
//! order, so a rule knows the type a column had before `ALTER COLUMN ... TYPE` and whether a
//! validated `CHECK (col IS NOT NULL)` already makes `SET NOT NULL` a catalog-only change, and
//! which columns an `INSERT` may leave out (they have a default).

use std::collections::{HashMap, HashSet};
use std::fmt;

use pg_query::protobuf::{
    a_const, AlterTableType, ConstrType, Constraint, NullTestType, ObjectType, TypeName,
};
use pg_query::{Node, NodeEnum};

use super::sql::{self, strings};

/// The schema after the migrations linted so far.
#[derive(Debug, Default)]
pub struct Catalog {
    tables: HashMap<String, Table>,
}

/// A file's view of the catalog: the schema before it, plus what its statements so far changed.
/// Changes are copied per table on write, so linting a file never copies the whole schema: an up
/// file's changes are then merged into the catalog, a down file's are dropped.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Catalog,
    /// `None`: dropped (or renamed away) by this file.
    changed: HashMap<String, Option<Table>>,
}

/// What one file changed, to [`Catalog::merge`].
#[derive(Debug)]
pub struct Changes(HashMap<String, Option<Table>>);

#[derive(Debug, Clone, Default)]
struct Table {
    columns: HashMap<String, ColumnType>,
    not_null: HashSet<String>,
    /// Columns with a default, an identity or a generated value.
    defaults: HashSet<String>,
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
    pub fn overlay(&self) -> Overlay<'_> {
        Overlay {
            base: self,
            changed: HashMap::new(),
        }
    }

    pub fn merge(&mut self, Changes(changed): Changes) {
        for (name, table) in changed {
            match table {
                Some(table) => self.tables.insert(name, table),
                None => self.tables.remove(&name),
            };
        }
    }
}

impl Overlay<'_> {
    pub fn into_changes(self) -> Changes {
        Changes(self.changed)
    }

    fn table(&self, name: &str) -> Option<&Table> {
        match self.changed.get(name) {
            Some(changed) => changed.as_ref(),
            None => self.base.tables.get(name),
        }
    }

    /// The table to change, copied into this overlay on first write (created if unknown: the
    /// catalog only knows what migrations created, not what existed before them).
    fn table_mut(&mut self, name: &str) -> &mut Table {
        let base = self.base;
        self.changed
            .entry(name.to_owned())
            .or_insert_with(|| base.tables.get(name).cloned())
            .get_or_insert_with(Table::default)
    }

    fn take_table(&mut self, name: &str) -> Option<Table> {
        let base = self.base;
        self.changed
            .insert(name.to_owned(), None)
            .unwrap_or_else(|| base.tables.get(name).cloned())
    }

    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.table(table)?.columns.get(column)
    }

    /// NOT NULL already, or covered by a validated `CHECK (column IS NOT NULL)`.
    pub fn proves_not_null(&self, table: &str, column: &str) -> bool {
        self.table(table).is_some_and(|table| {
            table.not_null.contains(column)
                || table
                    .not_null_checks
                    .values()
                    .any(|(checked, validated)| checked == column && *validated)
        })
    }

    /// An `INSERT` that leaves the column out gets a value other than NULL.
    pub fn has_default(&self, table: &str, column: &str) -> bool {
        self.table(table)
            .is_some_and(|table| table.defaults.contains(column))
    }

    /// Records what one statement does to the schema.
    pub fn apply(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::CreateStmt(create) => {
                let Some(relation) = &create.relation else {
                    return;
                };
                let mut table = Table::default();
                for element in &create.table_elts {
                    match &element.node {
                        Some(NodeEnum::ColumnDef(column)) => table.add_column(column),
                        Some(NodeEnum::Constraint(constraint)) => table.add_constraint(constraint),
                        _ => {}
                    }
                }
                self.changed.insert(relation.relname.clone(), Some(table));
            }
            NodeEnum::AlterTableStmt(_) => {
                for (relation, command) in sql::alter_table_commands(node) {
                    self.table_mut(&relation.relname).alter(
                        command.subtype(),
                        &command.name,
                        command.def.as_deref(),
                    );
                }
            }
            NodeEnum::RenameStmt(rename) => {
                let Some(relation) = &rename.relation else {
                    return;
                };
                match rename.rename_type() {
                    ObjectType::ObjectTable => {
                        if let Some(table) = self.take_table(&relation.relname) {
                            self.changed.insert(rename.newname.clone(), Some(table));
                        }
                    }
                    ObjectType::ObjectColumn => self
                        .table_mut(&relation.relname)
                        .rename_column(&rename.subname, &rename.newname),
                    _ => {}
                }
            }
            NodeEnum::DropStmt(drop) if drop.remove_type() == ObjectType::ObjectTable => {
                for object in &drop.objects {
                    if let Some(NodeEnum::List(name)) = &object.node {
                        if let Some(table) = sql::last_name(&name.items) {
                            self.take_table(table);
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
        let serial = column.type_name.as_ref().is_some_and(|type_name| {
            sql::last_name(&type_name.names).is_some_and(|name| name.contains("serial"))
        });
        let defaulted = serial
            || sql::column_constraints(column).any(|constraint| {
                matches!(
                    constraint.contype(),
                    ConstrType::ConstrDefault
                        | ConstrType::ConstrIdentity
                        | ConstrType::ConstrGenerated
                )
            });
        if defaulted {
            self.defaults.insert(column.colname.clone());
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
                self.defaults.remove(name);
            }
            // `SET DEFAULT` carries the expression, `DROP DEFAULT` none.
            (AlterTableType::AtColumnDefault, Some(_)) | (AlterTableType::AtAddIdentity, _) => {
                self.defaults.insert(name.to_owned());
            }
            (AlterTableType::AtColumnDefault, None) | (AlterTableType::AtDropIdentity, _) => {
                self.defaults.remove(name);
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
        for names in [&mut self.not_null, &mut self.defaults] {
            if names.remove(old) {
                names.insert(new.to_owned());
            }
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

    fn replay(catalog: &mut Catalog, sql: &str) {
        let mut overlay = catalog.overlay();
        for statement in sql::parse(sql).statements {
            overlay.apply(&statement.node);
        }
        let changes = overlay.into_changes();
        catalog.merge(changes);
    }

    #[test]
    fn follows_column_types_through_changes_and_renames() {
        let mut catalog = Catalog::default();
        replay(
            &mut catalog,
            "CREATE TABLE t (id bigint, name varchar(50), tags text[], price numeric(10, 2));\n\
             ALTER TABLE t ALTER COLUMN name TYPE varchar(80), ADD COLUMN note text;",
        );
        replay(
            &mut catalog,
            "ALTER TABLE t RENAME COLUMN note TO remark;\nALTER TABLE t RENAME TO u;",
        );
        let overlay = catalog.overlay();
        let types = |column| overlay.column_type("u", column).map(ToString::to_string);
        assert_eq!(types("id").as_deref(), Some("int8"));
        assert_eq!(types("name").as_deref(), Some("varchar(80)"));
        assert_eq!(types("tags").as_deref(), Some("text[]"));
        assert_eq!(types("price").as_deref(), Some("numeric(10,2)"));
        assert_eq!(types("remark").as_deref(), Some("text"));
        assert_eq!(overlay.column_type("t", "id"), None);
    }

    #[test]
    fn a_validated_not_null_check_proves_the_column() {
        let mut catalog = Catalog::default();
        replay(
            &mut catalog,
            "CREATE TABLE t (id bigint PRIMARY KEY, a text, b text NOT NULL);\n\
             ALTER TABLE t ADD CONSTRAINT a_not_null CHECK (a IS NOT NULL) NOT VALID;",
        );
        let overlay = catalog.overlay();
        assert!(overlay.proves_not_null("t", "id"));
        assert!(overlay.proves_not_null("t", "b"));
        assert!(!overlay.proves_not_null("t", "a"));
        replay(
            &mut catalog,
            "ALTER TABLE t VALIDATE CONSTRAINT a_not_null;",
        );
        assert!(catalog.overlay().proves_not_null("t", "a"));
    }

    #[test]
    fn knows_which_columns_have_defaults() {
        let mut catalog = Catalog::default();
        replay(
            &mut catalog,
            "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY, n serial, a text DEFAULT '', b text, c text);\n\
             ALTER TABLE t ALTER COLUMN b SET DEFAULT 'x', ALTER COLUMN a DROP DEFAULT;\n\
             ALTER TABLE t RENAME COLUMN b TO d;",
        );
        let overlay = catalog.overlay();
        let defaulted: Vec<bool> = ["id", "n", "a", "d", "c"]
            .iter()
            .map(|column| overlay.has_default("t", column))
            .collect();
        assert_eq!(defaulted, [true, true, false, true, false]);
    }

    #[test]
    fn an_overlay_leaves_its_base_alone_until_merged() {
        let mut catalog = Catalog::default();
        replay(&mut catalog, "CREATE TABLE t (a int);");
        let mut overlay = catalog.overlay();
        overlay.apply(&sql::parse("DROP TABLE t;").statements[0].node);
        assert_eq!(overlay.column_type("t", "a"), None);
        assert!(catalog.overlay().column_type("t", "a").is_some());
    }
}
