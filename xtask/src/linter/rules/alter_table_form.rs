//! `alter-table-form`: a statement form that, on an object that existed before this migration,
//! scans, rewrites or builds under a lock that blocks writes (or reads), and that no dedicated rule
//! covers: `ALTER TABLE ... SET TABLESPACE`, `SET LOGGED`/`SET UNLOGGED`, `SET ACCESS METHOD`,
//! `ALTER COLUMN ... SET EXPRESSION`, `ADD CONSTRAINT ... EXCLUDE`, `ATTACH PARTITION` of an
//! existing table; and the statement kinds the forms table calls risky (`REFRESH MATERIALIZED VIEW`
//! without `CONCURRENTLY`, `CREATE RULE`, `ALTER DOMAIN ... ADD CONSTRAINT` without `NOT VALID`,
//! `ALTER TYPE ... RENAME VALUE`, `SET SCHEMA`, `ALTER TABLE ALL IN TABLESPACE`).
//!
//! Why it matters: while the statement works through the table's rows, the running application's
//! writes (and, under ACCESS EXCLUSIVE, its reads) wait behind it, then every statement queued
//! behind those: on a large table that is an outage. The lock and effect of every form are in
//! `linter/forms.rs` (`cargo xtask lint --explain alter-table-form` lists them).
//!
//! Safe way: the finding's help gives it for each form; most have none online except building a
//! new table beside the old one and swapping, so they belong in a `-- xtask: maintenance-window`
//! migration. Forms on tables this migration created are never reported: nobody uses them yet.

use pg_query::protobuf::{AlterTableType, ConstrType, RangeVar};
use pg_query::{Node, NodeEnum};

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use migrations::trace::LockMode;

use crate::linter::forms::{self, Class, Effect};
use crate::linter::rule::{Check, Class as RuleClass, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: RuleClass::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Lock,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    match forms::statement_kind(&statement.node) {
        Class::Risky { reason, relation } => {
            if relation.is_some_and(|relation| context.is_new_table(relation)) {
                return Vec::new();
            }
            let mut finding = context.finding(
                Rule::AlterTableForm,
                statement.start,
                reason.to_owned(),
                "run it in a `-- xtask: maintenance-window` migration, or acknowledge it with \
                 `-- xtask: allow alter-table-form -- why it is harmless here`"
                    .into(),
            );
            // Renames, schema moves and rewrite rules break or change what the running
            // application reads: no lock the trace measures makes them harmless.
            let measurable = matches!(
                statement.node,
                NodeEnum::RefreshMatViewStmt(_)
                    | NodeEnum::AlterDomainStmt(_)
                    | NodeEnum::AlterTableMoveAllStmt(_)
            );
            if !measurable {
                finding.trace_role = Some(TraceRole::Static);
            }
            vec![finding]
        }
        _ => alter_table_findings(statement, context),
    }
}

fn alter_table_findings(statement: &Statement, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (table, command) in sql::alter_table_commands(&statement.node) {
        // Attaching an existing table scans it, whoever created the parent.
        if context.is_new_table(table) && command.subtype() != AlterTableType::AtAttachPartition {
            continue;
        }
        let Some(form) = forms::alter_table_form(command.subtype()) else {
            continue;
        };
        let name = sql::qualified_name(table);
        let (lock, effect, what) = match command.subtype() {
            AlterTableType::AtAddConstraint if is_exclusion(command.def.as_deref()) => (
                LockMode::AccessExclusive,
                Effect::Build,
                "ADD CONSTRAINT ... EXCLUDE".to_owned(),
            ),
            AlterTableType::AtAttachPartition => {
                match attached_table(command.def.as_deref()) {
                    Some(partition) if !context.is_new_table(partition) => (
                        LockMode::AccessExclusive,
                        Effect::Scan,
                        format!(
                            "ATTACH PARTITION of `{}`",
                            sql::qualified_name(partition)
                        ),
                    ),
                    _ => continue,
                }
            }
            _ if form.blocks_while_working() => (form.lock, form.effect, form.name.to_owned()),
            _ => continue,
        };
        let blocks = lock.blocks().describe();
        let safe_way = form.safe_way.unwrap_or(
            "an EXCLUDE constraint cannot use an index built CONCURRENTLY: run it in a \
             `-- xtask: maintenance-window` migration",
        );
        findings.push(context.finding(
            Rule::AlterTableForm,
            statement.start,
            format!("{what} on `{name}` {effect} under an {lock} lock: {blocks} wait until it ends"),
            safe_way.to_owned(),
        ));
    }
    findings
}

fn is_exclusion(definition: Option<&Node>) -> bool {
    matches!(
        definition.and_then(|node| node.node.as_ref()),
        Some(NodeEnum::Constraint(constraint)) if constraint.contype() == ConstrType::ConstrExclusion
    )
}

fn attached_table(definition: Option<&Node>) -> Option<&RangeVar> {
    match definition?.node.as_ref()? {
        NodeEnum::PartitionCmd(partition) => partition.name.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_rewrites_and_scans_no_rule_covers() {
        let sql = "ALTER TABLE tickets SET TABLESPACE archive;\n\
                   ALTER TABLE tickets SET LOGGED;\n\
                   ALTER TABLE tickets SET ACCESS METHOD heap;\n\
                   ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =);\n\
                   ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n\
                   REFRESH MATERIALIZED VIEW totals;\n\
                   CREATE RULE r AS ON DELETE TO tickets DO INSTEAD NOTHING;\n";
        let findings = check(Rule::AlterTableForm, sql);
        assert_eq!(
            positions(&findings),
            [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1)]
        );
        assert_eq!(
            findings[0].message,
            "SET TABLESPACE on `tickets` rewrites the table under an ACCESS EXCLUSIVE lock: \
             reads and writes wait until it ends"
        );
        assert!(findings[0].help.contains("pg_repack"), "{}", findings[0].help);
        assert!(findings[4].message.contains("`events_2026`"));
        assert!(findings[5].message.contains("REFRESH MATERIALIZED VIEW"));
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_catalog_changes_rule_covered_forms_and_new_objects() {
        let sql = "ALTER TABLE tickets ALTER COLUMN a SET DEFAULT 1, ENABLE ROW LEVEL SECURITY;\n\
                   ALTER TABLE tickets VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE tickets ALTER COLUMN a TYPE bigint;\n\
                   ALTER TABLE tickets ADD CONSTRAINT c CHECK (a > 0);\n\
                   REFRESH MATERIALIZED VIEW CONCURRENTLY totals;\n\
                   CREATE TABLE t (id int);\nALTER TABLE t SET LOGGED;\n\
                   CREATE TABLE events_2027 (at date);\n\
                   ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');\n\
                   CREATE MATERIALIZED VIEW m AS SELECT 1;\nREFRESH MATERIALIZED VIEW m;\n";
        assert!(check(Rule::AlterTableForm, sql).is_empty());
    }
}
