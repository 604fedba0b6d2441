//! `vacuum-full`: `VACUUM FULL` in a migration.
//!
//! Why it matters: it rewrites the whole table under an ACCESS EXCLUSIVE lock (no reads, no
//! writes) and needs room for a second copy of it. It also cannot run inside a transaction.
//!
//! Safe way: leave space reclamation to autovacuum or a plain `VACUUM`, or use `pg_repack`
//! outside the migrations; if a rewrite is truly needed, do it in a maintenance window.

use pg_query::NodeEnum;

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::{self, Statement};

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Lock,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    match &statement.node {
        NodeEnum::VacuumStmt(vacuum)
            if vacuum.is_vacuumcmd && sql::has_option(&vacuum.options, "full") =>
        {
            vec![context.finding(
                Rule::VacuumFull,
                statement.start,
                "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock".into(),
                "rely on autovacuum or a plain VACUUM, or run pg_repack outside the migrations"
                    .into(),
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_vacuum_full() {
        let findings = check(
            Rule::VacuumFull,
            "VACUUM FULL tickets;\nVACUUM (FULL, ANALYZE) users;\n",
        );
        assert_eq!(positions(&findings), [(1, 1), (2, 1)]);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_on_plain_vacuum_and_analyze() {
        assert!(check(Rule::VacuumFull, "VACUUM tickets;\nANALYZE tickets;\n").is_empty());
    }
}
