//! The single registry of lint rules. Each rule lives in `rules/<its_name>.rs`: its documentation
//! (the file's `//!` text, which `--explain` prints), its [`Spec`] and its tests. Adding a rule is
//! that file plus one line in the `registry!` list at the bottom of this file.

use std::fmt;

use migrations::source::Problem;
use serde::Serialize;

use super::context::Context;
use super::finding::{Finding, Severity};
use super::sql::Statement;

/// The strategy's classes, in increasing order: a file's risk is the highest of its findings'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Runs during a deploy, next to the application version it replaces.
    Safe,
    /// Locks or rewrites an existing table, or destroys data: needs a maintenance window.
    Risky,
    /// Breaks the application version still running: done as expand/contract over several releases.
    MultiStep,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::Safe, Risk::Risky, Risk::MultiStep];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Safe => "safe",
            Risk::Risky => "risky",
            Risk::MultiStep => "multi-step",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule's findings mean for the file's risk and how they can be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The file cannot run as written, or says something untrue about itself: never acknowledged.
    Broken,
    /// The strategy's house rules (documentation, rollbacks): acknowledged by name, no risk.
    Hygiene,
    /// Makes the file risky; acknowledged by name or by `maintenance-window`.
    Risky,
    /// Makes the file multi-step; acknowledged by name or by `maintenance-window`.
    MultiStep,
}

impl Class {
    pub fn risk(self) -> Risk {
        match self {
            Class::Broken | Class::Hygiene => Risk::Safe,
            Class::Risky => Risk::Risky,
            Class::MultiStep => Risk::MultiStep,
        }
    }
}

/// How the runner calls a rule.
#[derive(Clone, Copy)]
pub enum Check {
    /// Once per statement, in file order, with what the statements before it created.
    Statement(fn(&Statement, &Context) -> Vec<Finding>),
    /// Once per file, after its statements.
    File(fn(&Context) -> Vec<Finding>),
    /// Once per problem the engine's loader found in the migrations folder.
    Problem(fn(&Problem) -> Option<Finding>),
    /// Found by the runner itself, while acknowledging findings.
    Runner,
}

/// What the trace (`lint --trace`: the migration run on PostgreSQL) can say about a rule's
/// findings, so each finding is confirmed, cleared, or left to the rule alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceRole {
    /// About blocking work: a lock that blocks writes held while a pre-existing table is
    /// rewritten, scanned or indexed. The trace confirms it, or clears it when PostgreSQL did no
    /// such work.
    Lock,
    /// About a large data change: confirmed when the statement read a whole table or changed many
    /// rows, cleared when it changed a few rows through a unique index.
    Rows,
    /// The rule cannot tell what the statement does: confirmed by either kind of work, cleared
    /// when the trace saw neither.
    Unknown,
    /// Data loss, compatibility, the file itself: nothing the trace can measure. Never cleared;
    /// confirmed when the trace saw blocking work on the same statement.
    Static,
}

/// What a rule file declares about itself.
pub struct Spec {
    pub severity: Severity,
    pub class: Class,
    pub check: Check,
    pub trace: TraceRole,
}

/// `drop_column` -> `drop-column`, at compile time, so every name is a `&'static str` derived
/// from the module name and the two can never disagree.
const fn kebab_case<const N: usize>(module: &str) -> [u8; N] {
    let bytes = module.as_bytes();
    let mut name = [0; N];
    let mut index = 0;
    while index < N {
        name[index] = if bytes[index] == b'_' {
            b'-'
        } else {
            bytes[index]
        };
        index += 1;
    }
    name
}

/// The `//!` lines at the top of a rule's source file, without their markers.
fn module_docs(source: &str) -> String {
    source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

macro_rules! registry {
    ($($variant:ident => $module:ident,)*) => {
        #[path = "rules"]
        mod rules {
            $(pub(super) mod $module;)*
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable kebab-case name used in output and in `-- xtask: allow NAME`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => {
                        const BYTES: [u8; stringify!($module).len()] = kebab_case(stringify!($module));
                        const NAME: &str = match std::str::from_utf8(&BYTES) {
                            Ok(name) => name,
                            Err(_) => panic!("rule module names are ASCII"),
                        };
                        NAME
                    })*
                }
            }

            fn spec(self) -> &'static Spec {
                match self {
                    $(Rule::$variant => &rules::$module::SPEC,)*
                }
            }

            fn source(self) -> &'static str {
                match self {
                    $(Rule::$variant => include_str!(concat!("rules/", stringify!($module), ".rs")),)*
                }
            }
        }
    };
}

impl Rule {
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|rule| rule.name() == name)
    }

    pub fn severity(self) -> Severity {
        self.spec().severity
    }

    pub fn class(self) -> Class {
        self.spec().class
    }

    pub fn check(self) -> Check {
        self.spec().check
    }

    pub fn trace_role(self) -> TraceRole {
        self.spec().trace
    }

    /// What it catches, why it is dangerous, and the safe way: the rule file's `//!` text.
    pub fn docs(self) -> String {
        module_docs(self.source())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

registry! {
    // The file cannot run as written: found while reading the folder and parsing.
    SyntaxError => syntax_error,
    BadFileName => bad_file_name,
    DuplicateVersion => duplicate_version,
    MissingDown => missing_down,
    DownWithoutUp => down_without_up,
    BadDirective => bad_directive,
    UnreadableFile => unreadable_file,
    InvalidAllow => invalid_allow,
    UnusedAllow => unused_allow,
    TransactionControl => transaction_control,
    ConcurrentlyNeedsNoTransaction => concurrently_needs_no_transaction,
    NoTransactionSingleStatement => no_transaction_single_statement,
    DynamicSql => dynamic_sql,
    // The strategy's house rules.
    MissingDocumentation => missing_documentation,
    EmptyDown => empty_down,
    // Risky: locks or rewrites an existing table, or destroys data.
    DropTable => drop_table,
    DropColumn => drop_column,
    DropSchema => drop_schema,
    DropObject => drop_object,
    AddRequiredColumn => add_required_column,
    AddColumnVolatileDefault => add_column_volatile_default,
    AddSerialColumn => add_serial_column,
    SetNotNull => set_not_null,
    CreateIndexWithoutConcurrently => create_index_without_concurrently,
    DropIndexWithoutConcurrently => drop_index_without_concurrently,
    ReindexWithoutConcurrently => reindex_without_concurrently,
    AddPrimaryKey => add_primary_key,
    AddUniqueConstraint => add_unique_constraint,
    AddForeignKey => add_foreign_key,
    AddCheckConstraint => add_check_constraint,
    UnbatchedDataMigration => unbatched_data_migration,
    TruncateTable => truncate_table,
    VacuumFull => vacuum_full,
    Cluster => cluster,
    LockTable => lock_table,
    AlterTableForm => alter_table_form,
    UnclassifiedStatement => unclassified_statement,
    TracedBlockingWork => traced_blocking_work,
    // Multi-step: breaks the application version still running.
    RenameTable => rename_table,
    RenameColumn => rename_column,
    ChangeColumnType => change_column_type,
    BreaksBackendQuery => breaks_backend_query,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &rule in Rule::ALL {
            let name = rule.name();
            assert!(seen.insert(name), "{name} registered twice");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name} is not kebab-case"
            );
            assert_eq!(Rule::from_name(name), Some(rule));
        }
        assert_eq!(Rule::DropColumn.name(), "drop-column");
        assert_eq!(Rule::from_name("drop_column"), None);
    }

    #[test]
    fn every_rule_documents_what_why_and_the_safe_way() {
        for &rule in Rule::ALL {
            let docs = rule.docs();
            assert!(
                docs.starts_with(&format!("`{}`", rule.name())),
                "{rule}: docs must open with the rule's name:\n{docs}"
            );
            assert!(docs.lines().count() >= 3, "{rule}: docs too short:\n{docs}");
        }
    }

    /// What `--explain` prints for each rule: its class line, its documentation, and for
    /// `alter-table-form` the forms table.
    #[test]
    fn every_rules_explanation() {
        for &rule in Rule::ALL {
            let text = crate::linter::explain(rule.name()).expect("every rule explains itself");
            insta::assert_snapshot!(format!("explain-{rule}"), text);
        }
    }

    #[test]
    fn risky_and_multi_step_rules_are_errors() {
        for &rule in Rule::ALL {
            if matches!(rule.class(), Class::Risky | Class::MultiStep) {
                assert_eq!(rule.severity(), Severity::Error, "{rule}");
            }
        }
    }
}
