//! The forms tables checked against the parser (every `ALTER TABLE` sub-command has a row, every
//! example parses as its row's form or kind) and against PostgreSQL (the examples run).

use pg_query::protobuf::AlterTableType;

use super::statements::{Classing, STATEMENT_KINDS};
use super::*;
use crate::linter::sql;

#[test]
fn every_alter_table_type_has_a_form() {
    let mut count = 0;
    for value in 0..200 {
        let Ok(subtype) = AlterTableType::try_from(value) else {
            continue;
        };
        count += 1;
        match alter_table_form(subtype) {
            Some(form) => assert_eq!(form.subtype, subtype),
            None => assert_eq!(subtype, AlterTableType::Undefined),
        }
    }
    assert_eq!(alter_table_forms().len(), count - 1);
    assert!(alter_table_forms().len() >= 66);
}

#[test]
fn examples_are_alter_table_statements_of_their_form() {
    for form in alter_table_forms() {
        let Some(example) = form.example.sql() else {
            continue;
        };
        let parsed = sql::parse(example);
        assert!(
            parsed.syntax_errors.is_empty(),
            "{example}: {:?}",
            parsed.syntax_errors
        );
        assert_eq!(parsed.statements.len(), 1, "{example}");
        let commands = sql::alter_table_commands(&parsed.statements[0].node);
        let subtypes: Vec<AlterTableType> = commands
            .iter()
            .map(|(_, command)| command.subtype())
            .collect();
        assert_eq!(subtypes, [form.subtype], "{example}");
    }
}

/// Each runnable example on a fresh fixture, in a transaction rolled back after it.
#[test]
fn examples_run_on_postgresql_against_the_fixture() {
    let server: migrations::DatabaseUrl = std::env::var("BOMIZZEL_TEST_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
        .parse()
        .expect("BOMIZZEL_TEST_SERVER is a database URL");
    let scratch = migrations::ScratchDatabase::create(&server, "bomizzel_forms")
        .expect("PostgreSQL runs on the test server");
    let mut client = scratch.url().connect("bomizzel-forms-test").unwrap();
    client.batch_execute(FIXTURE).expect("the fixture runs");
    let mut ran = 0;
    for form in alter_table_forms() {
        let Example::Runs(example) = form.example else {
            continue;
        };
        let outcome = client.batch_execute(&format!("BEGIN; {example}; ROLLBACK;"));
        if let Err(error) = outcome {
            client.batch_execute("ROLLBACK").unwrap();
            panic!("{example}: {error:?}");
        }
        ran += 1;
    }
    assert_eq!(ran, 54);
}

#[test]
fn forms_the_rule_reports_say_the_safe_way() {
    for form in alter_table_forms() {
        if form.blocks_while_working() && form.example != Example::Internal {
            assert!(form.safe_way.is_some(), "{}", form.name);
        }
    }
}

#[test]
fn only_internal_forms_lack_a_runnable_example() {
    let internal = alter_table_forms()
        .iter()
        .filter(|form| form.example == Example::Internal)
        .count();
    let parses_only: Vec<&str> = alter_table_forms()
        .iter()
        .filter(|form| matches!(form.example, Example::ParsesOnly(_)))
        .map(|form| form.name)
        .collect();
    assert_eq!(internal, 10);
    assert_eq!(
        parses_only,
        [
            "ALTER COLUMN ... SET EXPRESSION",
            "DETACH PARTITION ... FINALIZE"
        ]
    );
}

#[test]
fn statement_kinds_are_classified() {
    let kind = |sql: &str| {
        let parsed = sql::parse(sql);
        let node = &parsed.statements[0].node;
        let (name, class) = (node_name(node), statement_kind(node));
        (name, class == Class::Safe, matches!(class, Class::Unknown))
    };
    assert_eq!(
        kind("CREATE TABLE a (id int)"),
        ("CreateStmt".into(), true, false)
    );
    assert_eq!(
        kind("COMMENT ON TABLE a IS 'x'"),
        ("CommentStmt".into(), true, false)
    );
    assert_eq!(kind("COPY a FROM STDIN"), ("CopyStmt".into(), false, true));
    assert!(!kind("REFRESH MATERIALIZED VIEW v").1);
    assert!(kind("REFRESH MATERIALIZED VIEW CONCURRENTLY v").1);
    assert!(kind("ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID").1);
    assert!(!kind("ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)").1);
    assert!(kind("ALTER TYPE mood ADD VALUE 'meh'").1);
    assert!(!kind("ALTER TYPE mood RENAME VALUE 'meh' TO 'fine'").1);
}

#[test]
fn alter_table_forms_are_in_the_enum_order() {
    let subtypes: Vec<i32> = alter_table_forms()
        .iter()
        .map(|form| form.subtype as i32)
        .collect();
    assert!(
        subtypes.windows(2).all(|pair| pair[0] < pair[1]),
        "{subtypes:?}"
    );
}

#[test]
fn every_statement_kind_example_parses_as_its_kind() {
    for kind in STATEMENT_KINDS {
        let parsed = sql::parse(kind.example);
        assert!(
            parsed.syntax_errors.is_empty(),
            "{}: {:?}",
            kind.example,
            parsed.syntax_errors
        );
        assert_eq!(parsed.statements.len(), 1, "{}", kind.example);
        let node = &parsed.statements[0].node;
        assert_eq!(node_name(node), kind.name, "{}", kind.example);
        assert_ne!(statement_kind(node), Class::Unknown, "{}", kind.example);
        if let Classing::Always(class) = kind.classing {
            assert_eq!(statement_kind(node), class, "{}", kind.example);
        }
    }
    let mut names: Vec<&str> = STATEMENT_KINDS.iter().map(|kind| kind.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), STATEMENT_KINDS.len(), "a kind is listed twice");
}
