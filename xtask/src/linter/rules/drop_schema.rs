//! `drop-schema`: `DROP SCHEMA` of a schema.
//!
//! Why it matters: with `CASCADE` it deletes every table, view and function in the schema in one
//! statement; without it, it fails as soon as the schema is not empty. Either way the running
//! application loses what it used there.
//!
//! Safe way: drop the objects one by one, each in a migration of its own that says it is unused
//! (`allow drop-table -- ...`); then drop the empty schema with
//! `-- xtask: allow drop-schema -- empty since release N`.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::Statement;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::DropStmt(drop) = &statement.node else {
        return Vec::new();
    };
    if drop.remove_type() != ObjectType::ObjectSchema {
        return Vec::new();
    }
    drop.objects
        .iter()
        .filter_map(|object| match &object.node {
            Some(NodeEnum::String(name)) => Some(name.sval.as_str()),
            _ => None,
        })
        .map(|schema| {
            context.finding(
                Rule::DropSchema,
                statement.start,
                format!("dropping schema `{schema}` deletes everything in it"),
                format!(
                    "drop its objects one by one in acknowledged migrations, then the empty schema \
                     with `-- xtask: allow drop-schema -- {schema} empty since release N`"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_drop_schema() {
        let findings = check(Rule::DropSchema, "DROP SCHEMA reporting CASCADE;\n");
        assert_eq!(positions(&findings), [(1, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_other_drops() {
        assert!(check(
            Rule::DropSchema,
            "DROP VIEW reporting_v;\nDROP INDEX CONCURRENTLY i;\n"
        )
        .is_empty());
    }
}
