//! Statements run by DO blocks and called functions, linted where they are written.

use crate::linter::context::test_support::{check, positions, up_file};
use crate::linter::rule::Rule;

#[test]
fn a_do_block_is_linted_where_its_statements_are_written() {
    let sql = "-- Purpose: x\nDO $$\nDECLARE n int;\nBEGIN\n  \
               ALTER TABLE tickets ALTER COLUMN a TYPE bigint;\nEND\n$$;\n";
    assert_eq!(positions(&check(Rule::ChangeColumnType, sql)), [(5, 3)]);
}

#[test]
fn statements_in_branches_and_loops_are_linted() {
    let sql = "DO $$\nDECLARE r record;\nBEGIN\n  IF true THEN\n    NULL;\n  ELSE\n    \
               FOR r IN SELECT id FROM tickets LOOP\n      NULL;\n    END LOOP;\n    \
               LOOP\n      UPDATE tickets SET a = 1;\n      EXIT;\n    END LOOP;\n  \
               END IF;\nEXCEPTION WHEN others THEN DELETE FROM users;\nEND $$;\n";
    assert_eq!(
        positions(&check(Rule::UnbatchedDataMigration, sql)),
        [(11, 7), (15, 28)]
    );
}

#[test]
fn a_called_function_is_linted_at_its_body() {
    let function = "CREATE FUNCTION cleanup() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  \
                    ALTER TABLE tickets DROP COLUMN legacy;\nEND $$;\n";
    assert!(check(Rule::DropColumn, function).is_empty());
    for call in [
        "SELECT cleanup();",
        "SELECT public.cleanup();",
        "DO $$ BEGIN PERFORM cleanup(); END $$;",
    ] {
        let sql = format!("{function}{call}\n");
        assert_eq!(
            positions(&check(Rule::DropColumn, &sql)),
            [(3, 3)],
            "{call}"
        );
    }
}

#[test]
fn sql_functions_and_procedures_are_linted_when_called() {
    let sql = "CREATE PROCEDURE p() LANGUAGE sql AS $$\n  TRUNCATE tickets\n$$;\n\
               CREATE FUNCTION f() RETURNS void LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  \
               DELETE FROM users;\nEND;\nCALL p();\nSELECT f();\n";
    assert_eq!(positions(&check(Rule::TruncateTable, sql)), [(2, 3)]);
    assert_eq!(
        positions(&check(Rule::UnbatchedDataMigration, sql)),
        [(7, 3)]
    );
}

#[test]
fn a_constant_execute_is_linted_like_a_static_statement() {
    let sql =
        "DO $$\nBEGIN\n  EXECUTE 'ALTER TABLE tickets ALTER COLUMN a SET NOT NULL';\nEND $$;\n";
    let findings = check(Rule::SetNotNull, sql);
    assert_eq!(positions(&findings), [(3, 12)]);
}

#[test]
fn what_a_body_creates_counts_as_the_migrations_own() {
    let sql = "DO $$ BEGIN CREATE TABLE a (id int); END $$;\n\
               ALTER TABLE a ALTER COLUMN id TYPE bigint;\n\
               DO $$ BEGIN UPDATE a SET id = 1; END $$;\n";
    assert!(check(Rule::ChangeColumnType, sql).is_empty());
    assert!(check(Rule::UnbatchedDataMigration, sql).is_empty());
}

#[test]
fn a_body_that_does_not_parse_is_one_syntax_error_at_its_statement() {
    let sql = "SELECT 1;\nDO $$ BEGIN ALTR TABLE tickets; UPDATE x SET; END $$;\n\
               CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELEC 1 $$;\n";
    let findings = check(Rule::SyntaxError, sql);
    assert_eq!(positions(&findings), [(2, 1), (3, 1)]);
    assert!(
        findings[0].message.contains("PL/pgSQL"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[0].message.contains("ALTR"),
        "{}",
        findings[0].message
    );
}

#[test]
fn a_recursive_function_is_linted_once() {
    let sql = "CREATE FUNCTION f(n int) RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  \
               DELETE FROM users;\n  IF n > 0 THEN PERFORM f(n - 1); END IF;\nEND $$;\n\
               SELECT f(3);\n";
    assert_eq!(
        positions(&check(Rule::UnbatchedDataMigration, sql)),
        [(3, 3)]
    );
}

#[test]
fn the_whole_runner_attributes_body_findings_to_the_file() {
    let file = up_file(
        "-- Purpose: a\n-- Risk: b\n-- Rollback: c\n-- Performance: d\n\
         DO $$ BEGIN ALTER TABLE tickets ALTER COLUMN a TYPE bigint; END $$;\n",
    );
    let rules: Vec<Rule> = crate::linter::runner::lint_standalone(&file)
        .iter()
        .map(|finding| finding.rule)
        .collect();
    assert_eq!(rules, [Rule::ChangeColumnType]);
}
