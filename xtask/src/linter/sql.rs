//! A migration file as PostgreSQL's own parser (libpg_query, through `pg_query`) reads it: its
//! statements and syntax errors (`sql/statement.rs`), what its DO blocks and functions run
//! (`plpgsql.rs`), and which of those bodies each statement runs. `sql/tree.rs` holds the small
//! accessors over the parse tree, so that rules read like the SQL they look for rather than like
//! protobuf plumbing.

pub(crate) mod statement;
pub(crate) mod tree;

use pg_query::{NodeEnum, NodeRef};

use super::plpgsql::{self, Body};

pub use statement::{parse_statements, Statement, SyntaxError};
pub use tree::{
    added_column, added_constraints, alter_table_commands, column_constraints, constraint_columns,
    created_object, deparse, dropped_names, has_constraint, has_option, last_name, location_or,
    not_valid_then_validate, qualified_name, strings,
};

#[derive(Debug, Default)]
pub struct Parsed {
    pub statements: Vec<Statement>,
    pub syntax_errors: Vec<SyntaxError>,
    /// What the file's DO blocks and functions run (see `plpgsql.rs`).
    pub bodies: Vec<Body>,
}

/// Parses a whole file, statements and the bodies they run (see `sql/statement.rs` for a file
/// that does not parse as a whole).
pub fn parse(sql: &str) -> Parsed {
    let (statements, mut syntax_errors) = statement::parse_every_statement(sql);
    let (bodies, errors) = plpgsql::bodies(sql, &statements);
    syntax_errors.extend(errors);
    Parsed {
        statements,
        syntax_errors,
        bodies,
    }
}

impl Parsed {
    /// What `statement` runs besides itself: a DO block's body, or the bodies of the functions
    /// this file defined before it that it calls.
    pub fn bodies_run_by(&self, statement: &Statement) -> Vec<&Body> {
        if let NodeEnum::DoStmt(_) = statement.node {
            return self
                .bodies
                .iter()
                .filter(|body| body.function.is_none() && body.start == statement.start)
                .collect();
        }
        let mut run = Vec::new();
        for called in called_functions(&statement.node) {
            // The latest definition before the call is the one that runs (CREATE OR REPLACE).
            let defined = self.bodies.iter().rev().find(|body| {
                body.start < statement.start && body.function.as_deref() == Some(called.as_str())
            });
            run.extend(defined);
        }
        run
    }
}

/// The names of the functions and procedures a statement calls, in the order written.
fn called_functions(node: &NodeEnum) -> Vec<String> {
    node.nodes()
        .into_iter()
        .filter_map(|(node, ..)| match node {
            NodeRef::FuncCall(call) => last_name(&call.funcname).map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
