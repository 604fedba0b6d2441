//! Small accessors over the parse tree (names, created and dropped objects, `ALTER TABLE`
//! commands, constraints, options), so that rules read like the SQL they look for.

use pg_query::protobuf::{
    a_const, AlterTableCmd, AlterTableStmt, AlterTableType, ColumnDef, ConstrType, Constraint,
    DropBehavior, DropStmt, ObjectType, RangeVar,
};
use pg_query::{Node, NodeEnum};

use super::statement::Statement;

/// `schema.table` as written, for messages.
pub fn qualified_name(relation: &RangeVar) -> String {
    if relation.schemaname.is_empty() {
        relation.relname.clone()
    } else {
        format!("{}.{}", relation.schemaname, relation.relname)
    }
}

/// The string items of a name list (`public.users` -> `["public", "users"]`).
pub fn strings(nodes: &[Node]) -> impl Iterator<Item = &str> {
    nodes.iter().filter_map(|node| match &node.node {
        Some(NodeEnum::String(string)) => Some(string.sval.as_str()),
        _ => None,
    })
}

/// The last name of a qualified name list: the object's own name.
pub fn last_name(nodes: &[Node]) -> Option<&str> {
    strings(nodes).last()
}

/// The kind and name of the view, function, trigger, type, domain, sequence or policy a
/// statement creates, named as [`dropped_names`] names it: a trigger or a policy belongs to its
/// table, so it is `table.name`.
pub fn created_object(node: &NodeEnum) -> Option<(ObjectType, String)> {
    let on_table = |table: &Option<RangeVar>, name: &str| {
        table
            .as_ref()
            .map(|table| format!("{}.{name}", table.relname))
    };
    match node {
        NodeEnum::ViewStmt(view) => {
            Some((ObjectType::ObjectView, view.view.as_ref()?.relname.clone()))
        }
        NodeEnum::CreateTableAsStmt(create) if create.objtype() == ObjectType::ObjectMatview => {
            Some((
                ObjectType::ObjectMatview,
                create.into.as_ref()?.rel.as_ref()?.relname.clone(),
            ))
        }
        NodeEnum::CreateFunctionStmt(function) => {
            let kind = if function.is_procedure {
                ObjectType::ObjectProcedure
            } else {
                ObjectType::ObjectFunction
            };
            Some((kind, last_name(&function.funcname)?.to_owned()))
        }
        NodeEnum::CreateTrigStmt(trigger) => Some((
            ObjectType::ObjectTrigger,
            on_table(&trigger.relation, &trigger.trigname)?,
        )),
        NodeEnum::CreatePolicyStmt(policy) => Some((
            ObjectType::ObjectPolicy,
            on_table(&policy.table, &policy.policy_name)?,
        )),
        NodeEnum::CreateEnumStmt(create) => Some((
            ObjectType::ObjectType,
            last_name(&create.type_name)?.to_owned(),
        )),
        NodeEnum::CreateRangeStmt(create) => Some((
            ObjectType::ObjectType,
            last_name(&create.type_name)?.to_owned(),
        )),
        NodeEnum::CompositeTypeStmt(create) => Some((
            ObjectType::ObjectType,
            create.typevar.as_ref()?.relname.clone(),
        )),
        NodeEnum::DefineStmt(define) if define.kind() == ObjectType::ObjectType => Some((
            ObjectType::ObjectType,
            last_name(&define.defnames)?.to_owned(),
        )),
        NodeEnum::CreateDomainStmt(create) => Some((
            ObjectType::ObjectDomain,
            last_name(&create.domainname)?.to_owned(),
        )),
        NodeEnum::CreateSeqStmt(create) => Some((
            ObjectType::ObjectSequence,
            create.sequence.as_ref()?.relname.clone(),
        )),
        _ => None,
    }
}

/// The names a `DROP` removes, without their schema; `table.name` for what belongs to a table
/// (`DROP TRIGGER name ON table`), as [`created_object`] names it.
pub fn dropped_names(drop: &DropStmt) -> Vec<String> {
    drop.objects
        .iter()
        .filter_map(|object| match &object.node {
            Some(NodeEnum::List(name)) => match drop.remove_type() {
                ObjectType::ObjectTrigger | ObjectType::ObjectPolicy | ObjectType::ObjectRule => {
                    let names: Vec<&str> = strings(&name.items).collect();
                    match names.as_slice() {
                        [.., table, own] => Some(format!("{table}.{own}")),
                        _ => None,
                    }
                }
                _ => last_name(&name.items).map(str::to_owned),
            },
            Some(NodeEnum::ObjectWithArgs(function)) => {
                last_name(&function.objname).map(str::to_owned)
            }
            Some(NodeEnum::TypeName(type_name)) => last_name(&type_name.names).map(str::to_owned),
            Some(NodeEnum::String(name)) => Some(name.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The `(TABLE, COMMAND)` pairs of an `ALTER TABLE`.
pub fn alter_table_commands(node: &NodeEnum) -> Vec<(&RangeVar, &AlterTableCmd)> {
    let NodeEnum::AlterTableStmt(alter) = node else {
        return Vec::new();
    };
    let Some(table) = &alter.relation else {
        return Vec::new();
    };
    alter
        .cmds
        .iter()
        .filter_map(|command| match &command.node {
            Some(NodeEnum::AlterTableCmd(command)) => Some((table, command.as_ref())),
            _ => None,
        })
        .collect()
}

/// The column an `ADD COLUMN` command adds.
pub fn added_column(command: &AlterTableCmd) -> Option<&ColumnDef> {
    match (command.subtype(), command.def.as_deref()) {
        (
            AlterTableType::AtAddColumn,
            Some(Node {
                node: Some(NodeEnum::ColumnDef(column)),
            }),
        ) => Some(column),
        _ => None,
    }
}

/// The constraints written inline on a column (`NOT NULL`, `DEFAULT ...`, `REFERENCES ...`).
pub fn column_constraints(column: &ColumnDef) -> impl Iterator<Item = &Constraint> {
    column
        .constraints
        .iter()
        .filter_map(|node| match &node.node {
            Some(NodeEnum::Constraint(constraint)) => Some(constraint.as_ref()),
            _ => None,
        })
}

/// A constraint an `ALTER TABLE` adds, on its own (`ADD CONSTRAINT`) or inline on a new column.
pub struct AddedConstraint<'a> {
    pub table: &'a RangeVar,
    pub constraint: &'a Constraint,
    /// The column it was written on, for `ADD COLUMN ... REFERENCES ...`.
    pub column: Option<&'a ColumnDef>,
}

pub fn added_constraints(node: &NodeEnum) -> Vec<AddedConstraint<'_>> {
    let mut added = Vec::new();
    for (table, command) in alter_table_commands(node) {
        if let Some(column) = added_column(command) {
            added.extend(
                column_constraints(column).map(|constraint| AddedConstraint {
                    table,
                    constraint,
                    column: Some(column),
                }),
            );
        } else if let (
            AlterTableType::AtAddConstraint,
            Some(Node {
                node: Some(NodeEnum::Constraint(constraint)),
            }),
        ) = (command.subtype(), command.def.as_deref())
        {
            added.push(AddedConstraint {
                table,
                constraint,
                column: None,
            });
        }
    }
    added
}

/// Whether a column has an inline constraint of this type.
pub fn has_constraint(column: &ColumnDef, kind: ConstrType) -> bool {
    column_constraints(column).any(|constraint| constraint.contype() == kind)
}

/// The column names of a constraint (`keys` for UNIQUE/PRIMARY KEY, `fk_attrs` for FOREIGN KEY),
/// or the column it was written on.
pub fn constraint_columns(added: &AddedConstraint<'_>) -> Vec<String> {
    if let Some(column) = added.column {
        return vec![column.colname.clone()];
    }
    let keys = match added.constraint.contype() {
        ConstrType::ConstrForeign => &added.constraint.fk_attrs,
        _ => &added.constraint.keys,
    };
    strings(keys).map(str::to_owned).collect()
}

/// Whether a `DefElem` list (`VACUUM (FULL)`, `REINDEX (CONCURRENTLY)`) turns `name` on.
pub fn has_option(options: &[Node], name: &str) -> bool {
    options.iter().any(|node| match &node.node {
        Some(NodeEnum::DefElem(option)) if option.defname == name => match option.arg.as_deref() {
            None => true,
            Some(Node {
                node: Some(NodeEnum::Boolean(value)),
            }) => value.boolval,
            Some(Node {
                node: Some(NodeEnum::AConst(constant)),
            }) => !matches!(
                constant.val,
                Some(a_const::Val::Boolval(pg_query::protobuf::Boolean {
                    boolval: false
                }))
            ),
            Some(Node {
                node: Some(NodeEnum::String(value)),
            }) => !matches!(value.sval.as_str(), "false" | "off" | "0"),
            Some(_) => true,
        },
        _ => false,
    })
}

/// `ALTER TABLE table ADD <constraint>` as PostgreSQL prints it, to show a rule's safe form.
/// The safe form of adding `constraint` to `table`: `ADD CONSTRAINT ... NOT VALID`, then
/// `VALIDATE CONSTRAINT` (what both the CHECK and the foreign-key rules suggest). `elided` stands
/// for the constraint body when it cannot be printed back.
pub fn not_valid_then_validate(
    table: &RangeVar,
    mut constraint: Constraint,
    elided: &str,
) -> String {
    constraint.skip_validation = true;
    constraint.initially_valid = false;
    let name = constraint.conname.clone();
    let shown = qualified_name(table);
    let add = add_constraint_sql(table, constraint)
        .unwrap_or_else(|| format!("ALTER TABLE {shown} ADD CONSTRAINT {name} {elided} NOT VALID"));
    format!("{add};\nALTER TABLE {shown} VALIDATE CONSTRAINT {name};")
}

pub fn add_constraint_sql(table: &RangeVar, constraint: Constraint) -> Option<String> {
    let command = AlterTableCmd {
        subtype: AlterTableType::AtAddConstraint as i32,
        // libpg_query asserts on enum values left at zero.
        behavior: DropBehavior::DropRestrict as i32,
        def: Some(Box::new(Node {
            node: Some(NodeEnum::Constraint(Box::new(constraint))),
        })),
        ..AlterTableCmd::default()
    };
    deparse(NodeEnum::AlterTableStmt(AlterTableStmt {
        relation: Some(table.clone()),
        cmds: vec![Node {
            node: Some(NodeEnum::AlterTableCmd(Box::new(command))),
        }],
        objtype: ObjectType::ObjectTable as i32,
        missing_ok: false,
    }))
}

/// A statement's SQL as PostgreSQL prints it, to show a rule's safe form.
pub fn deparse(node: NodeEnum) -> Option<String> {
    node.deparse(Default::default()).ok()
}

/// A byte offset from the parse tree (`-1` when unknown), or the statement's own start.
pub fn location_or(location: i32, statement: &Statement) -> usize {
    usize::try_from(location).unwrap_or(statement.start)
}
