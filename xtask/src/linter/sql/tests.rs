//! The libpg_query wrapper: statement positions, scanner errors, and the helpers rules read.

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
