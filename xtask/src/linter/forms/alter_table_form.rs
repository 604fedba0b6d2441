//! One row of the `ALTER TABLE` table: the form's lock, what it does to the rows while it holds
//! it, and how it is written; with the builders the table's rows are written with.

use std::fmt;

use migrations::trace::LockMode;
use pg_query::protobuf::AlterTableType;

use crate::linter::rule::Rule;

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
    /// Runs on PostgreSQL 15 against [`FIXTURE`](super::FIXTURE).
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
pub const fn form(
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
pub const fn catalog_only(
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
pub const fn rewrite(
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
