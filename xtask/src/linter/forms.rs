//! What every statement form does to a busy database, in two tables of data: each `ALTER TABLE`
//! sub-command (`forms/alter_table.rs`, one row per [`AlterTableType`]; a test fails when
//! `pg_query` adds one), and each kind of statement (`forms/statements.rs`). Rules look a form up
//! instead of listing the forms they know, so a form nobody wrote a rule for is reported as
//! unknown, never called safe.
//!
//! Lock levels are PostgreSQL 15's (`AlterTableGetLockLevel` in `tablecmds.c`, and the ALTER
//! TABLE page of the manual), in the library's [`LockMode`], the one the trace reports. Each form
//! the parser can produce has an example that runs on PostgreSQL 15 against [`FIXTURE`], so a test
//! can check the table against what the server really locks and rewrites.

mod alter_table;
mod statements;
#[cfg(test)]
mod tests;

use std::fmt;

use migrations::trace::LockMode;
use pg_query::protobuf::AlterTableType;

use super::rule::Rule;
pub use statements::{node_name, statement_kind, Class};

/// What a form does to the table's data while it holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Changes catalog rows only: done in milliseconds once the lock is granted.
    CatalogOnly,
    /// Reads every row to validate it.
    Scan,
    /// Writes a new copy of the table (and rebuilds its indexes).
    Rewrite,
    /// Builds an index.
    Build,
    /// Depends on the statement's details; these rules decide.
    Conditional(&'static [Rule]),
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::CatalogOnly => f.write_str("catalog only"),
            Effect::Scan => f.write_str("scans every row"),
            Effect::Rewrite => f.write_str("rewrites the table"),
            Effect::Build => f.write_str("builds an index"),
            Effect::Conditional(rules) => {
                let names: Vec<&str> = rules.iter().map(|rule| rule.name()).collect();
                write!(f, "depends, see {}", names.join(", "))
            }
        }
    }
}

/// How a form is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    /// Runs on PostgreSQL 15 against [`FIXTURE`].
    Runs(&'static str),
    /// Valid SQL PostgreSQL 15 cannot run against the fixture: the form is newer, or it needs a
    /// state the fixture cannot build. Parsed by the tests, not run.
    ParsesOnly(&'static str),
    /// Made by PostgreSQL itself while it executes another command; never written in SQL.
    Internal,
}

impl Example {
    pub fn sql(self) -> Option<&'static str> {
        match self {
            Example::Runs(sql) | Example::ParsesOnly(sql) => Some(sql),
            Example::Internal => None,
        }
    }
}

/// One `ALTER TABLE` sub-command.
#[derive(Debug, Clone, Copy)]
pub struct AlterTableForm {
    pub subtype: AlterTableType,
    /// As written, for messages: `SET TABLESPACE`.
    pub name: &'static str,
    /// On the altered table, in PostgreSQL 15.
    pub lock: LockMode,
    pub effect: Effect,
    /// Where PostgreSQL's behaviour changed, newest last.
    pub notes: &'static [&'static str],
    /// The way around it, for a form `alter-table-form` reports.
    pub safe_way: Option<&'static str>,
    pub example: Example,
}

impl AlterTableForm {
    /// Holds a lock that blocks the application's writes while it reads or writes every row.
    pub fn blocks_while_working(&self) -> bool {
        matches!(self.effect, Effect::Scan | Effect::Rewrite | Effect::Build)
            && self.lock.blocks().writes
    }
}

/// A row of the `ALTER TABLE` table with no safe way to name.
const fn form(
    subtype: AlterTableType,
    name: &'static str,
    lock: LockMode,
    effect: Effect,
    notes: &'static [&'static str],
    example: Example,
) -> AlterTableForm {
    AlterTableForm {
        subtype,
        name,
        lock,
        effect,
        notes,
        safe_way: None,
        example,
    }
}

/// A form that changes catalog rows only, under `lock`: enabling or disabling a trigger, a rule
/// or row security.
const fn catalog_only(
    subtype: AlterTableType,
    name: &'static str,
    lock: LockMode,
    example: &'static str,
) -> AlterTableForm {
    form(
        subtype,
        name,
        lock,
        Effect::CatalogOnly,
        &[],
        Example::Runs(example),
    )
}

/// A form that rewrites the table under ACCESS EXCLUSIVE, and the way around it.
const fn rewrite(
    subtype: AlterTableType,
    name: &'static str,
    notes: &'static [&'static str],
    safe_way: &'static str,
    example: Example,
) -> AlterTableForm {
    AlterTableForm {
        safe_way: Some(safe_way),
        ..form(
            subtype,
            name,
            LockMode::AccessExclusive,
            Effect::Rewrite,
            notes,
            example,
        )
    }
}

/// The schema every runnable example runs against, on an otherwise empty database.
#[cfg(test)]
pub const FIXTURE: &str = "\
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE fixture (id int PRIMARY KEY, a int, b text, c varchar(10), p int, d int DEFAULT 1,
    e int NOT NULL DEFAULT 0, g int GENERATED ALWAYS AS (a * 2) STORED,
    i int GENERATED BY DEFAULT AS IDENTITY);
ALTER TABLE fixture ADD CONSTRAINT fixture_a_positive CHECK (a > 0) NOT VALID;
CREATE INDEX fixture_a_idx ON fixture (a);
CREATE FUNCTION fixture_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER fixture_trigger BEFORE UPDATE ON fixture FOR EACH ROW EXECUTE FUNCTION fixture_touch();
CREATE RULE fixture_rule AS ON DELETE TO fixture DO ALSO NOTHING;
CREATE TABLE child (id int PRIMARY KEY, parent_id int CONSTRAINT child_parent_fkey REFERENCES parent);
CREATE TABLE counters (n int NOT NULL);
CREATE UNLOGGED TABLE scratch (id int);
CREATE TABLE orphan (id int NOT NULL, note text);
CREATE TABLE heir (note text) INHERITS (parent);
CREATE TYPE fixture_row AS (id int, note text);
CREATE TABLE untyped (id int, note text);
CREATE TABLE typed OF fixture_row;
CREATE TABLE measurements (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE measurements_2027 (id int, at date DEFAULT '2027-06-01');
CREATE FOREIGN DATA WRAPPER fixture_wrapper;
CREATE SERVER fixture_server FOREIGN DATA WRAPPER fixture_wrapper;
CREATE FOREIGN TABLE remote (id int) SERVER fixture_server;
";

/// Every `ALTER TABLE` form, in the enum's order.
pub fn alter_table_forms() -> &'static [AlterTableForm] {
    alter_table::ALTER_TABLE_FORMS
}

/// The form of `subtype`; `None` only for the protobuf's `Undefined` placeholder.
pub fn alter_table_form(subtype: AlterTableType) -> Option<&'static AlterTableForm> {
    alter_table_forms()
        .iter()
        .find(|form| form.subtype == subtype)
}

/// The forms table as `--explain alter-table-form` shows it.
pub fn describe_alter_table_forms() -> String {
    let mut text = String::from("Every ALTER TABLE form (PostgreSQL 15 locks):\n");
    for form in alter_table_forms() {
        if form.example == Example::Internal {
            continue;
        }
        text.push_str(&format!(
            "- {}: {}, {}\n",
            form.name, form.lock, form.effect
        ));
        if let Some(example) = form.example.sql() {
            text.push_str(&format!("    e.g. {example}\n"));
        }
        for note in form.notes {
            text.push_str(&format!("    {note}\n"));
        }
    }
    text
}
