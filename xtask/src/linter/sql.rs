//! PostgreSQL's own parser (libpg_query, through `pg_query`) and small accessors over its parse
//! tree, so that rules read like the SQL they look for rather than like protobuf plumbing.

use pg_query::protobuf::{
    a_const, AlterTableCmd, AlterTableStmt, AlterTableType, ColumnDef, ConstrType, Constraint,
    DropBehavior, DropStmt, ObjectType, RangeVar, Token,
};
use pg_query::{Node, NodeEnum};

use super::plpgsql::{self, Body};

/// One statement of a file, with where it is.
#[derive(Debug, Clone)]
pub struct Statement {
    pub node: NodeEnum,
    /// Byte offset of the statement's first token (after any comments before it).
    pub start: usize,
    /// Byte offset just past the statement's last token (before its `;`).
    pub end: usize,
}

/// A statement PostgreSQL would refuse, and where it stops making sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub statements: Vec<Statement>,
    pub syntax_errors: Vec<SyntaxError>,
    /// What the file's DO blocks and functions run (see `plpgsql.rs`).
    pub bodies: Vec<Body>,
}

/// Parses a whole file. When it does not parse, each statement is parsed on its own, so the good
/// ones are still linted and each bad one is reported where it goes wrong.
pub fn parse(sql: &str) -> Parsed {
    let mut parsed = match pg_query::parse(sql, 0) {
        Ok(result) => Parsed {
            statements: statements(sql, result.protobuf, 0, sql.len()),
            ..Parsed::default()
        },
        Err(whole_file) => parse_each_statement(sql, &whole_file),
    };
    let (bodies, errors) = plpgsql::bodies(sql, &parsed.statements);
    parsed.bodies = bodies;
    parsed.syntax_errors.extend(errors);
    parsed
}

/// The statements of SQL that parses, or PostgreSQL's error.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>, pg_query::Error> {
    pg_query::parse(sql, 0).map(|result| statements(sql, result.protobuf, 0, sql.len()))
}

/// The statements of `tree`, parsed from the `piece_len` bytes of `sql` at `base`.
fn statements(
    sql: &str,
    tree: pg_query::protobuf::ParseResult,
    base: usize,
    piece_len: usize,
) -> Vec<Statement> {
    tree.stmts
        .into_iter()
        .filter_map(|raw| {
            let node = raw.stmt?.node?;
            let location = base + usize::try_from(raw.stmt_location).unwrap_or_default();
            // A length of 0 means "to the end of the parsed text".
            let end = match usize::try_from(raw.stmt_len).unwrap_or_default() {
                0 => base + piece_len,
                len => location + len,
            };
            Some(Statement {
                node,
                start: skip_comments(sql, location),
                end,
            })
        })
        .collect()
}

fn parse_each_statement(sql: &str, whole_file: &pg_query::Error) -> Parsed {
    let mut parsed = Parsed::default();
    let Some(pieces) = statement_pieces(sql) else {
        parsed.syntax_errors.push(SyntaxError {
            offset: near_text_offset(sql, &message(whole_file)).unwrap_or(0),
            message: message(whole_file),
        });
        return parsed;
    };
    for (base, piece) in pieces {
        match pg_query::parse(piece, 0) {
            Ok(result) => {
                parsed
                    .statements
                    .extend(statements(sql, result.protobuf, base, piece.len()))
            }
            Err(error) => parsed.syntax_errors.push(SyntaxError {
                offset: base + error_offset(piece, &message(&error)),
                message: message(&error),
            }),
        }
    }
    if parsed.syntax_errors.is_empty() {
        // The pieces parse alone but not together: report the file's error at its start.
        parsed.syntax_errors.push(SyntaxError {
            offset: skip_comments(sql, 0),
            message: message(whole_file),
        });
    }
    parsed
}

/// The file cut into statements with their byte offsets, even where the grammar would refuse
/// them. The scanner splits on semicolons outside literals, comments and parentheses, but drops
/// what it cannot make a statement of (an unclosed parenthesis, an invalid token): those gaps
/// are kept as pieces of their own, so they are reported rather than lost.
fn statement_pieces(sql: &str) -> Option<Vec<(usize, &str)>> {
    let mut pieces = Vec::new();
    let mut covered = 0;
    for piece in pg_query::split_with_scanner(sql).ok()? {
        let start = piece.as_ptr() as usize - sql.as_ptr() as usize;
        keep_gap(sql, covered..start, &mut pieces);
        pieces.push((start, piece));
        covered = start + piece.len();
    }
    keep_gap(sql, covered..sql.len(), &mut pieces);
    Some(pieces)
}

/// The statements in a stretch the scanner skipped, if it holds more than comments.
fn keep_gap<'a>(sql: &'a str, gap: std::ops::Range<usize>, pieces: &mut Vec<(usize, &'a str)>) {
    let mut start = gap.start;
    for part in sql[gap].split(';') {
        if skip_comments(part, 0) < part.len() {
            pieces.push((start, part));
        }
        start += part.len() + 1;
    }
}

pub fn message(error: &pg_query::Error) -> String {
    match error {
        pg_query::Error::Parse(message)
        | pg_query::Error::Split(message)
        | pg_query::Error::Scan(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Where in `statement` PostgreSQL's grammar gives up: the first token whose prefix no longer
/// parses, or fails other than "at end of input" (an unfinished but still valid start). Validity
/// of prefixes is monotonic, so a binary search finds it in a few parses.
fn error_offset(statement: &str, message: &str) -> usize {
    let Ok(tokens) = pg_query::scan_tokens(statement) else {
        return near_text_offset(statement, message).unwrap_or_else(|| skip_comments(statement, 0));
    };
    let tokens: Vec<_> = tokens
        .into_iter()
        .filter(|token| {
            token.token != Token::SqlComment as i32 && token.token != Token::CComment as i32
        })
        .collect();
    let viable = |end: i32| {
        let prefix = &statement[..usize::try_from(end).unwrap_or_default()];
        match pg_query::parse(prefix, 0) {
            Ok(_) => true,
            Err(error) => self::message(&error).ends_with("at end of input"),
        }
    };
    let first_bad = tokens.partition_point(|token| viable(token.end));
    tokens.get(first_bad).map_or_else(
        || statement.trim_end().len(),
        |token| usize::try_from(token.start).unwrap_or_default(),
    )
}

/// `... at or near "foo"`: the first place `foo` appears, for errors the scanner itself raises.
fn near_text_offset(sql: &str, message: &str) -> Option<usize> {
    let near = message.split_once("at or near \"")?.1.strip_suffix('"')?;
    sql.find(near)
}

/// The offset of the first byte at or after `from` that is neither whitespace nor a comment.
pub fn skip_comments(sql: &str, from: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut at = from;
    loop {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        if bytes[at..].starts_with(b"--") {
            at = sql[at..]
                .find('\n')
                .map_or(sql.len(), |newline| at + newline);
        } else if bytes[at..].starts_with(b"/*") {
            // PostgreSQL's block comments nest.
            let mut depth = 0;
            while at < bytes.len() {
                if bytes[at..].starts_with(b"/*") {
                    depth += 1;
                    at += 2;
                } else if bytes[at..].starts_with(b"*/") {
                    depth -= 1;
                    at += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    at += 1;
                }
            }
        } else {
            return at.min(sql.len());
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_start_at_their_first_token() {
        let sql = "-- Purpose: x\n/* a /* nested */ comment */\nCREATE TABLE a (id int);\n\n  -- next\n  DROP TABLE a;\n";
        let parsed = parse(sql);
        assert!(parsed.syntax_errors.is_empty());
        let starts: Vec<&str> = parsed
            .statements
            .iter()
            .map(|statement| &sql[statement.start..statement.start + 6])
            .collect();
        assert_eq!(starts, ["CREATE", "DROP T"]);
    }

    #[test]
    fn a_bad_statement_is_located_and_the_others_still_parse() {
        let sql = "CREATE TABLE a (id int);\nCREATE TABEL b (id int);\nDROP TABLE a;\n";
        let parsed = parse(sql);
        assert_eq!(parsed.statements.len(), 2);
        assert_eq!(parsed.syntax_errors.len(), 1);
        let error = &parsed.syntax_errors[0];
        assert_eq!(&sql[error.offset..error.offset + 5], "TABEL");
        assert!(error.message.contains("syntax error"), "{}", error.message);
    }

    #[test]
    fn an_unfinished_statement_is_located_at_its_end() {
        let sql = "SELECT 1;\nCREATE TABLE a (id int";
        let parsed = parse(sql);
        assert_eq!(parsed.syntax_errors[0].offset, sql.len());
        assert!(parsed.syntax_errors[0].message.contains("end of input"));
    }

    #[test]
    fn what_the_scanner_drops_is_still_reported() {
        for sql in [
            "SELECT 1; SELECT (2;\nSELECT 3;",
            "SELECT 1; asdf; SELECT 2;",
        ] {
            let parsed = parse(sql);
            assert_eq!(
                parsed.syntax_errors.len(),
                1,
                "{sql:?}: {:?}",
                parsed.syntax_errors
            );
        }
    }

    #[test]
    fn scanner_errors_are_reported_not_panicked_on() {
        for sql in [
            "SELECT 'unterminated;\n",
            "SELECT 1; /* open comment",
            "SELECT \0;",
        ] {
            assert_eq!(parse(sql).syntax_errors.len(), 1, "{sql:?}");
        }
    }

    #[test]
    fn understands_what_postgresql_accepts() {
        let sql = "DO $$ BEGIN RAISE NOTICE 'x;'; END $$;\n\
                   DROP INDEX CONCURRENTLY IF EXISTS a_idx;\n\
                   REINDEX INDEX CONCURRENTLY a_idx;\n\
                   CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
                   CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f();\n\
                   CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n";
        let parsed = parse(sql);
        assert!(
            parsed.syntax_errors.is_empty(),
            "{:?}",
            parsed.syntax_errors
        );
        assert_eq!(parsed.statements.len(), 6);
    }

    #[test]
    fn reads_option_lists() {
        let parsed = parse("VACUUM (FULL, VERBOSE false) a; REINDEX (CONCURRENTLY) TABLE a;");
        let NodeEnum::VacuumStmt(vacuum) = &parsed.statements[0].node else {
            panic!("not a vacuum")
        };
        assert!(has_option(&vacuum.options, "full"));
        assert!(!has_option(&vacuum.options, "verbose"));
        let NodeEnum::ReindexStmt(reindex) = &parsed.statements[1].node else {
            panic!("not a reindex")
        };
        assert!(has_option(&reindex.params, "concurrently"));
    }
}
