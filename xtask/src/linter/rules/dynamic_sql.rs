//! `dynamic-sql`: an `EXECUTE` of SQL built at run time (`format(...)`, concatenation, a
//! variable) in a DO block, or in a function this migration defines and calls.
//!
//! Why it matters: the linter reads the statements a body runs, but SQL assembled while it runs
//! is only a string expression: it may rewrite or lock any table, and no rule can tell. Such a
//! migration counts as risky until someone has looked at what it does (`lint --trace` runs it on a
//! scratch database and shows the locks it takes and the rows it changes). `EXECUTE` of one string
//! literal is read and linted like a static statement.
//!
//! Safe way: write the statement statically (PL/pgSQL variables may stand where values go), or
//! once the trace shows what it does, acknowledge it:
//! `-- xtask: allow dynamic-sql -- why it is harmless`.

use crate::linter::context::Context;
use crate::linter::finding::{Finding, Severity};
use crate::linter::rule::{Check, Class, Rule, Spec, TraceRole};
use crate::linter::sql::Statement;

pub(crate) const SPEC: Spec = Spec {
    severity: Severity::Error,
    class: Class::Risky,
    check: Check::Statement(check),
    trace: TraceRole::Unknown,
};

fn check(statement: &Statement, context: &Context) -> Vec<Finding> {
    context.parsed.bodies_run_by(statement)
        .into_iter()
        .flat_map(|body| &body.dynamic)
        .map(|dynamic| {
            context.finding(
                Rule::DynamicSql,
                dynamic.offset,
                format!(
                    "dynamic SQL in a PL/pgSQL body cannot be analysed (`EXECUTE {}`); it counts as risky until `lint --trace` shows what it does",
                    dynamic.expression.trim()
                ),
                "write the statement statically, with variables only where values go; or run \
                 `cargo xtask lint --trace` and acknowledge what it shows with \
                 `-- xtask: allow dynamic-sql -- why`"
                    .into(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::linter::context::test_support::{check, positions, rendered};
    use crate::linter::rule::Rule;

    #[test]
    fn fires_on_an_execute_of_built_sql() {
        let sql = "DO $$\nDECLARE t text := 'tickets';\nBEGIN\n  \
                   EXECUTE format('ALTER TABLE %I ADD COLUMN x int', t);\n  \
                   EXECUTE 'DROP TABLE ' || t;\nEND $$;\n";
        let findings = check(Rule::DynamicSql, sql);
        assert_eq!(positions(&findings), [(4, 11), (5, 11)]);
        assert!(findings[0].message.contains("`EXECUTE format("), "{}", findings[0].message);
        insta::assert_snapshot!(rendered(&findings));
    }

    #[test]
    fn fires_in_a_called_function_only() {
        let function = "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$\n\
                        BEGIN EXECUTE 'TRUNCATE ' || t; END $$;\n";
        assert!(check(Rule::DynamicSql, function).is_empty());
        let called = format!("{function}SELECT f('tickets');\n");
        assert_eq!(positions(&check(Rule::DynamicSql, &called)), [(2, 15)]);
    }

    #[test]
    fn quiet_on_a_constant_string_and_static_sql() {
        let sql = "DO $$ BEGIN EXECUTE 'SELECT 1'; UPDATE tickets SET a = 1 WHERE id = 1; END $$;\n";
        assert!(check(Rule::DynamicSql, sql).is_empty());
    }
}
