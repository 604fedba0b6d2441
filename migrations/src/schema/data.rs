//! Generated rows for tables a migration touches, so a rollback that only works on empty tables
//! (re-adding a NOT NULL column without default, a type change that cannot cast) is caught.
//!
//! Values come from each column's type, asking PostgreSQL which candidate literal its input
//! function accepts when the type is not a common one (a domain's CHECK included). A CHECK
//! constraint that rejects a row is read back and the values its definition suggests are tried
//! (`status IN ('open', ...)`, `email LIKE '%_@_%'`, `version ~ '^[0-9]+\.[0-9]+$'`). A foreign
//! key gets parent rows first, each child row its own parent row, so a UNIQUE foreign key fills.
//! Deferred constraints are checked when the rows are made, as real rows' were long before.

//!
//! `rows` fills tables, `values` makes one column's value, `check_constraints` reads what a
//! refusing CHECK suggests, `catalog` reads the columns, and `parameters` gives the values a
//! query parameter takes.

mod catalog;
mod check_constraints;
mod parameters;
mod rows;
mod values;

pub use self::catalog::Values;
pub use self::parameters::{literal_for_type, values_for_column, ColumnValue, ParameterUse};
pub use self::rows::{
    fill_tables, fill_tables_shaped, fill_tables_with, Filled, Unfilled, ROWS_PER_TABLE,
};
pub use self::values::TextShape;
