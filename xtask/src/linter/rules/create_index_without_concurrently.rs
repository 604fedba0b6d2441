//! `create-index-without-concurrently`: `CREATE INDEX` without `CONCURRENTLY` on a table this
//! migration did not create.
//!
//! Why it matters: a plain index build holds a SHARE lock on the table for the whole build: every
//! INSERT, UPDATE and DELETE waits, for minutes on a large table.
//!
//! Safe way: `CREATE INDEX CONCURRENTLY`, alone in a migration marked `-- xtask: no-transaction`.
//! If it fails it leaves an INVALID index, which the engine drops before retrying. Indexes on
//! tables created in the same migration are built instantly and are not reported.

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
    let NodeEnum::IndexStmt(index) = &statement.node else {
        return Vec::new();
    };
    let Some(table) = &index.relation else {
        return Vec::new();
    };
    if index.concurrent || context.is_new_table(table) {
        return Vec::new();
    }
    let mut concurrent = index.clone();
    concurrent.concurrent = true;
    // btree is the default access method; the deparser spells it out.
    let safe = sql::deparse(NodeEnum::IndexStmt(concurrent)).map_or_else(
        || "CREATE INDEX CONCURRENTLY ...".into(),
        |sql| sql.replace(" USING btree ", " "),
    );
    vec![context.finding(
        Rule::CreateIndexWithoutConcurrently,
        statement.start,
        format!(
            "CREATE INDEX on `{}` without CONCURRENTLY blocks writes to it until the index is built",
            sql::qualified_name(table)
        ),
        format!("build it concurrently, alone in a `-- xtask: no-transaction` migration:\n{safe};"),
    )]
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_a_blocking_index_build() {
        let findings = check(
            Rule::CreateIndexWithoutConcurrently,
            "CREATE UNIQUE INDEX tickets_title_idx ON tickets (title) WHERE status = 'open';\n",
        );
        assert_eq!(positions(&findings), [(1, 1)]);
        assert!(
            findings[0]
                .help
                .contains("CREATE UNIQUE INDEX CONCURRENTLY tickets_title_idx ON tickets"),
            "{}",
            findings[0].help
        );
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn quiet_concurrently_or_on_a_new_table() {
        let sql = "CREATE INDEX CONCURRENTLY a_idx ON tickets (title);\n\
                   CREATE TABLE b (id int);\nCREATE INDEX b_idx ON b (id);\n";
        assert!(check(Rule::CreateIndexWithoutConcurrently, sql).is_empty());
    }
}
