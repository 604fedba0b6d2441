//! `drop-object`: `DROP VIEW`, `MATERIALIZED VIEW`, `FUNCTION`, `PROCEDURE`, `TRIGGER`, `TYPE`,
//! `DOMAIN`, `SEQUENCE` or `POLICY` of an object this migration did not create.
//!
//! Why it matters: the application version still running during the deploy may read the view,
//! call the function, cast to the type or count on the trigger or the policy doing its work; from
//! the moment the migration commits, its queries fail or, worse, silently stop being checked.
//! Dropping and creating it again later in the same migration is atomic in its transaction and
//! is not reported; outside a transaction (`-- xtask: no-transaction`) the object is missing in
//! between, so it is.
//!
//! Safe way: dropping is the last step of expand/contract. First release application code that
//! no longer uses the object; then drop it in a later migration that records the decision:
//! `-- xtask: allow drop-object -- unused since release N`.
//!
//! A down file dropping what its up file created is the expected rollback and is not reported.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Static,
};

/// The word messages use for a kind of object this rule reports.
fn noun(kind: ObjectType) -> Option<&'static str> {
    Some(match kind {
        ObjectType::ObjectView => "view",
        ObjectType::ObjectMatview => "materialized view",
        ObjectType::ObjectFunction => "function",
        ObjectType::ObjectProcedure => "procedure",
        ObjectType::ObjectTrigger => "trigger",
        ObjectType::ObjectType => "type",
        ObjectType::ObjectDomain => "domain",
        ObjectType::ObjectSequence => "sequence",
        ObjectType::ObjectPolicy => "policy",
        _ => return None,
    })
}

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    let NodeEnum::DropStmt(drop) = &statement.node else {
        return Vec::new();
    };
    let kind = drop.remove_type();
    let Some(noun) = noun(kind) else {
        return Vec::new();
    };
    sql::dropped_names(drop)
        .into_iter()
        .filter(|name| !context.is_new_object(kind, name))
        .filter_map(|name| {
            let recreated = context
                .parsed
                .statements
                .iter()
                .filter(|later| later.start > statement.start)
                .any(|later| {
                    sql::created_object(&later.node).is_some_and(|created| created == (kind, name.clone()))
                });
            let consequence = match (recreated, context.no_transaction()) {
                (true, false) => return None,
                (true, true) => {
                    "outside a transaction it is missing until the statement that creates it \
                     again has run"
                }
                (false, _) => "whatever still uses it fails from the moment the migration commits",
            };
            let shown = match name.split_once('.') {
                Some((table, own)) => format!("`{own}` on `{table}`"),
                None => format!("`{name}`"),
            };
            Some(context.finding(
                Rule::DropObject,
                statement.start,
                format!(
                    "dropping {noun} {shown} removes what the running application may still read \
                     or rely on; {consequence}"
                ),
                format!(
                    "first release code that no longer uses the {noun}; then drop it in a later \
                     migration with `-- xtask: allow drop-object -- unused since release N`"
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, check_down, check_file, positions, rendered, up_file};
    use crate::linter::finding::Severity;
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_an_existing_view_function_and_trigger() {
        let sql = "DROP VIEW IF EXISTS open_tickets_by_queue;\n\
                   DROP FUNCTION touch(int), public.stamp();\n\
                   DROP TRIGGER set_updated_at ON public.tickets;\n\
                   DROP TABLE tickets;\n";
        let findings = check(Rule::DropObject, sql);
        assert_eq!(positions(&findings), [(1, 1), (2, 1), (2, 1), (3, 1)]);
        assert_eq!(
            findings[0].message,
            "dropping view `open_tickets_by_queue` removes what the running application may still \
             read or rely on; whatever still uses it fails from the moment the migration commits"
        );
        assert!(findings[2].message.contains("function `stamp`"));
        assert!(findings[3].message.contains("trigger `set_updated_at` on `tickets`"));
        assert!(findings[3].help.contains("-- xtask: allow drop-object -- unused since release N"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_a_drop_and_recreate_in_one_transaction() {
        let sql = "DROP VIEW open_tickets;\n\
                   DROP TRIGGER audit ON tickets;\n\
                   DROP TYPE mood;\n\
                   CREATE VIEW open_tickets AS SELECT 1 AS id;\n\
                   CREATE TRIGGER audit AFTER UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION f();\n\
                   CREATE TYPE mood AS ENUM ('sad', 'ok');\n";
        assert!(check(Rule::DropObject, sql).is_empty());
    }

    #[test]
    fn a_recreate_of_another_kind_or_table_does_not_count() {
        let sql = "DROP VIEW open_tickets;\n\
                   DROP TRIGGER audit ON tickets;\n\
                   CREATE MATERIALIZED VIEW open_tickets AS SELECT 1 AS id;\n\
                   CREATE TRIGGER audit AFTER UPDATE ON queues FOR EACH ROW EXECUTE FUNCTION f();\n";
        assert_eq!(positions(&check(Rule::DropObject, sql)), [(1, 1), (2, 1)]);
    }

    #[test]
    fn quiet_on_objects_created_earlier_in_the_file() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n\
                   CREATE VIEW v AS SELECT f();\n\
                   CREATE SEQUENCE s;\n\
                   CREATE DOMAIN d AS int;\n\
                   CREATE POLICY p ON tickets USING (true);\n\
                   DROP POLICY p ON tickets;\n\
                   DROP DOMAIN d;\n\
                   DROP SEQUENCE s;\n\
                   DROP VIEW v;\n\
                   DROP FUNCTION f();\n";
        assert!(check(Rule::DropObject, sql).is_empty());
    }

    #[test]
    fn fires_on_a_drop_and_recreate_outside_a_transaction() {
        let file = up_file(
            "-- xtask: no-transaction\n\
             DROP VIEW open_tickets;\n\
             CREATE VIEW open_tickets AS SELECT 1 AS id;\n",
        );
        let findings = check_file(Rule::DropObject, "", &file);
        assert_eq!(positions(&findings), [(2, 1)]);
        assert!(
            findings[0].message.ends_with(
                "outside a transaction it is missing until the statement that creates it again \
                 has run"
            ),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn in_a_down_file_quiet_on_what_its_up_created_and_a_warning_otherwise() {
        let up = "CREATE VIEW v AS SELECT 1 AS id;";
        assert!(check_down(Rule::DropObject, up, "DROP VIEW v;").is_empty());
        let findings = check_down(Rule::DropObject, up, "DROP VIEW w;");
        assert_eq!(findings[0].severity, Severity::Warning);
    }
}
