//! The statement kinds table: for each kind of statement (by its parse node's name), whether it
//! is safe, which rules decide, or why it is risky, with an example of it. A kind not in the
//! table is unknown, which `unclassified-statement` reports.

use std::fmt::{self, Write};

use pg_query::protobuf::{AlterDomainStmt, ObjectType, RangeVar};
use pg_query::NodeEnum;

use crate::linter::rule::Rule;

/// What a kind of statement means for a migration's risk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Class<'a> {
    /// Changes catalog rows only, or reads: safe on objects that already exist.
    Safe,
    /// Decided per statement by these rules.
    Rules(&'static [Rule]),
    /// Locks or changes an existing object in a way no dedicated rule covers.
    Risky {
        reason: &'static str,
        /// The relation it works on, when there is one: on a relation this migration created
        /// it is harmless.
        relation: Option<&'a RangeVar>,
    },
    /// Not in the table.
    Unknown,
}

/// How a row of the table classes its statements.
#[derive(Clone, Copy)]
pub enum Classing {
    /// Every statement of the kind alike.
    Always(Class<'static>),
    /// By a look at the statement: its options, or the relation it works on.
    ByStatement(for<'a> fn(&'a NodeEnum) -> Class<'a>),
}

/// One kind of statement.
pub struct StatementKind {
    /// The parse node's name: `CreateStmt`.
    pub name: &'static str,
    pub classing: Classing,
    /// A statement of the kind, which the tests parse.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the tests parse it to check the row's name")
    )]
    pub example: &'static str,
}

const fn safe(name: &'static str, example: &'static str) -> StatementKind {
    StatementKind {
        name,
        classing: Classing::Always(Class::Safe),
        example,
    }
}

const fn rules(name: &'static str, rules: &'static [Rule], example: &'static str) -> StatementKind {
    StatementKind {
        name,
        classing: Classing::Always(Class::Rules(rules)),
        example,
    }
}

const fn by_statement(
    name: &'static str,
    class: for<'a> fn(&'a NodeEnum) -> Class<'a>,
    example: &'static str,
) -> StatementKind {
    StatementKind {
        name,
        classing: Classing::ByStatement(class),
        example,
    }
}

/// Every statement kind the linter knows.
pub static STATEMENT_KINDS: &[StatementKind] = &[
    safe("CreateStmt", "CREATE TABLE a (id int)"),
    safe("CreateTableAsStmt", "CREATE TABLE a AS SELECT 1"),
    safe("ViewStmt", "CREATE VIEW v AS SELECT 1"),
    safe(
        "CreateFunctionStmt",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ),
    safe("AlterFunctionStmt", "ALTER FUNCTION f() STABLE"),
    safe(
        "CreateTrigStmt",
        "CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f()",
    ),
    safe("CreatePolicyStmt", "CREATE POLICY p ON a USING (true)"),
    safe("AlterPolicyStmt", "ALTER POLICY p ON a USING (false)"),
    safe("CreateExtensionStmt", "CREATE EXTENSION pgcrypto"),
    safe("CreateSchemaStmt", "CREATE SCHEMA s"),
    safe("CreateSeqStmt", "CREATE SEQUENCE s"),
    safe("AlterSeqStmt", "ALTER SEQUENCE s RESTART"),
    safe("CreateEnumStmt", "CREATE TYPE mood AS ENUM ('ok')"),
    safe("CompositeTypeStmt", "CREATE TYPE pair AS (a int, b int)"),
    safe("CreateDomainStmt", "CREATE DOMAIN d AS int"),
    safe("CreateRangeStmt", "CREATE TYPE r AS RANGE (subtype = int)"),
    safe(
        "DefineStmt",
        "CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int)",
    ),
    safe("CreateCastStmt", "CREATE CAST (int AS text) WITH INOUT"),
    safe(
        "CreateOpClassStmt",
        "CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <",
    ),
    safe("CreateOpFamilyStmt", "CREATE OPERATOR FAMILY f USING btree"),
    safe(
        "CreateConversionStmt",
        "CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f",
    ),
    safe(
        "CreateTransformStmt",
        "CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION f(internal))",
    ),
    safe("CreateStatsStmt", "CREATE STATISTICS s ON a, b FROM t"),
    safe("AlterStatsStmt", "ALTER STATISTICS s SET STATISTICS 100"),
    safe(
        "CreateEventTrigStmt",
        "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
    ),
    safe("AlterEventTrigStmt", "ALTER EVENT TRIGGER e DISABLE"),
    safe(
        "CreateForeignTableStmt",
        "CREATE FOREIGN TABLE r (id int) SERVER s",
    ),
    safe("CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER w"),
    safe(
        "CreateForeignServerStmt",
        "CREATE SERVER s FOREIGN DATA WRAPPER w",
    ),
    safe(
        "CreateUserMappingStmt",
        "CREATE USER MAPPING FOR CURRENT_USER SERVER s",
    ),
    safe("CreatePlangStmt", "CREATE LANGUAGE l HANDLER h"),
    safe("CommentStmt", "COMMENT ON TABLE a IS 'x'"),
    safe("SecLabelStmt", "SECURITY LABEL ON TABLE a IS 'x'"),
    safe("GrantStmt", "GRANT SELECT ON a TO PUBLIC"),
    safe("GrantRoleStmt", "GRANT r TO u"),
    safe(
        "AlterDefaultPrivilegesStmt",
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
    ),
    safe("AlterOwnerStmt", "ALTER FUNCTION f() OWNER TO CURRENT_USER"),
    safe("SelectStmt", "SELECT 1"),
    safe("VariableSetStmt", "SET lock_timeout = '1s'"),
    safe("VariableShowStmt", "SHOW lock_timeout"),
    safe("ConstraintsSetStmt", "SET CONSTRAINTS ALL DEFERRED"),
    // Its statements are linted one by one where they run (linter/plpgsql.rs).
    safe("DoStmt", "DO $$ BEGIN END $$"),
    by_statement(
        "AlterEnumStmt",
        alter_enum,
        "ALTER TYPE mood RENAME VALUE 'a' TO 'b'",
    ),
    rules(
        "AlterTableStmt",
        &[Rule::AlterTableForm],
        "ALTER TABLE a ADD COLUMN b int",
    ),
    rules(
        "IndexStmt",
        &[
            Rule::CreateIndexWithoutConcurrently,
            Rule::ConcurrentlyNeedsNoTransaction,
        ],
        "CREATE INDEX i ON a (b)",
    ),
    rules(
        "DropStmt",
        &[
            Rule::DropTable,
            Rule::DropIndexWithoutConcurrently,
            Rule::DropSchema,
            Rule::DropObject,
        ],
        "DROP TABLE a",
    ),
    rules(
        "RenameStmt",
        &[Rule::RenameTable, Rule::RenameColumn],
        "ALTER TABLE a RENAME TO b",
    ),
    rules("TruncateStmt", &[Rule::TruncateTable], "TRUNCATE a"),
    rules("VacuumStmt", &[Rule::VacuumFull], "VACUUM a"),
    rules("ClusterStmt", &[Rule::Cluster], "CLUSTER a"),
    rules("LockStmt", &[Rule::LockTable], "LOCK TABLE a"),
    rules(
        "ReindexStmt",
        &[Rule::ReindexWithoutConcurrently],
        "REINDEX TABLE a",
    ),
    rules("TransactionStmt", &[Rule::TransactionControl], "COMMIT"),
    rules(
        "InsertStmt",
        &[Rule::UnbatchedDataMigration],
        "INSERT INTO a VALUES (1)",
    ),
    rules(
        "UpdateStmt",
        &[Rule::UnbatchedDataMigration],
        "UPDATE a SET b = 1",
    ),
    rules(
        "DeleteStmt",
        &[Rule::UnbatchedDataMigration],
        "DELETE FROM a",
    ),
    rules(
        "MergeStmt",
        &[Rule::UnbatchedDataMigration],
        "MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN DELETE",
    ),
    by_statement(
        "RefreshMatViewStmt",
        refresh_materialized_view,
        "REFRESH MATERIALIZED VIEW v",
    ),
    by_statement(
        "RuleStmt",
        create_rule,
        "CREATE RULE r AS ON DELETE TO a DO INSTEAD NOTHING",
    ),
    by_statement(
        "AlterDomainStmt",
        alter_domain,
        "ALTER DOMAIN d SET NOT NULL",
    ),
    by_statement(
        "AlterObjectSchemaStmt",
        set_schema,
        "ALTER TABLE a SET SCHEMA s",
    ),
    StatementKind {
        name: "AlterTableMoveAllStmt",
        classing: Classing::Always(Class::Risky {
            reason: "ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE copies every table it \
                     moves under an ACCESS EXCLUSIVE lock",
            relation: None,
        }),
        example: "ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b",
    },
];

/// A statement kind's class, from the table.
pub fn statement_kind(node: &NodeEnum) -> Class<'_> {
    let name = node_name(node);
    match STATEMENT_KINDS.iter().find(|kind| kind.name == name) {
        Some(StatementKind {
            classing: Classing::Always(class),
            ..
        }) => *class,
        Some(StatementKind {
            classing: Classing::ByStatement(class),
            ..
        }) => class(node),
        None => Class::Unknown,
    }
}

/// Adding a value is safe; renaming one is not.
fn alter_enum(node: &NodeEnum) -> Class<'_> {
    match node {
        NodeEnum::AlterEnumStmt(alter) if !alter.old_val.is_empty() => Class::Risky {
            reason: "renaming an enum value breaks the running application, which still reads \
                     and writes the old label",
            relation: None,
        },
        _ => Class::Safe,
    }
}

fn refresh_materialized_view(node: &NodeEnum) -> Class<'_> {
    match node {
        NodeEnum::RefreshMatViewStmt(refresh) if !refresh.concurrent => Class::Risky {
            reason: "REFRESH MATERIALIZED VIEW without CONCURRENTLY holds an ACCESS EXCLUSIVE \
                     lock while it recomputes the view: reads of the view wait",
            relation: refresh.relation.as_ref(),
        },
        _ => Class::Safe,
    }
}

fn create_rule(node: &NodeEnum) -> Class<'_> {
    Class::Risky {
        reason: "CREATE RULE takes an ACCESS EXCLUSIVE lock and silently changes what the \
                 running application's statements on the table do",
        relation: match node {
            NodeEnum::RuleStmt(rule) => rule.relation.as_ref(),
            _ => None,
        },
    }
}

/// `SET NOT NULL` and a validated `ADD CONSTRAINT` scan every column of the domain.
fn alter_domain(node: &NodeEnum) -> Class<'_> {
    let reason = match node {
        NodeEnum::AlterDomainStmt(alter) if alter.subtype == "O" => {
            "ALTER DOMAIN ... SET NOT NULL scans every column of the domain in every table, \
             blocking writes to them"
        }
        NodeEnum::AlterDomainStmt(alter) if alter.subtype == "C" && !adds_not_valid(alter) => {
            "ALTER DOMAIN ... ADD CONSTRAINT without NOT VALID scans every column of the domain \
             in every table, blocking writes to them"
        }
        _ => return Class::Safe,
    };
    Class::Risky {
        reason,
        relation: None,
    }
}

/// `ADD CONSTRAINT ... NOT VALID` on a domain: checked for new values only.
fn adds_not_valid(alter: &AlterDomainStmt) -> bool {
    matches!(
        alter.def.as_deref().and_then(|def| def.node.as_ref()),
        Some(NodeEnum::Constraint(constraint)) if constraint.skip_validation
    )
}

fn set_schema(node: &NodeEnum) -> Class<'_> {
    let relation = match node {
        NodeEnum::AlterObjectSchemaStmt(alter) if alter.object_type() != ObjectType::ObjectType => {
            alter.relation.as_ref()
        }
        _ => None,
    };
    Class::Risky {
        reason: "SET SCHEMA moves the object: the running application's queries that reach it \
                 by its old schema fail",
        relation,
    }
}

/// The parse node's name (`CopyStmt`): the one name every statement kind has. Read from the start
/// of the node's `Debug` text: the writer refuses everything from the first `(` on, so the rest
/// of the tree is never formatted.
pub fn node_name(node: &NodeEnum) -> String {
    struct UpToParenthesis(String);
    impl Write for UpToParenthesis {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            match text.split_once('(') {
                Some((name, _)) => {
                    self.0.push_str(name);
                    Err(fmt::Error)
                }
                None => {
                    self.0.push_str(text);
                    Ok(())
                }
            }
        }
    }
    let mut name = UpToParenthesis(String::new());
    // The error is the writer's own stop at the `(`.
    let _ = write!(name, "{node:?}");
    name.0
}
