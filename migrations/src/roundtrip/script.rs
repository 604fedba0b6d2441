//! Running one script of a pair and naming its failure (the step, PostgreSQL's code, the table,
//! column and value it struck); and the names a script mentions, which scope the snapshots.

use postgres::error::SqlState;
use postgres::{Client, GenericClient};

use crate::model::Script;
use crate::roundtrip::report::{Cause, Hazard, MigrationReport, Step};
use crate::runner::describe_sql_error;

/// A step that failed.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) step: Step,
    pub(super) message: String,
    code: Option<SqlState>,
    hazard: Hazard,
}

impl Failure {
    /// PostgreSQL could not read a text value as what a cast, an index or a trigger wanted.
    pub(super) fn refused_text(&self) -> bool {
        self.code == Some(SqlState::INVALID_TEXT_REPRESENTATION)
    }

    /// The up's new enum label used before the up committed: one shared transaction's artefact.
    pub(super) fn needs_committed_up(&self) -> bool {
        self.code == Some(SqlState::UNSAFE_NEW_ENUM_VALUE_USAGE)
    }
}

/// Records a failure in the report: `first`, met with rows, and `without_rows`, the same steps
/// run again on empty tables (`None` when no rows were generated, so there was nothing to retry).
pub(super) fn record_failure(
    report: &mut MigrationReport,
    first: Failure,
    without_rows: Option<Option<Failure>>,
) {
    let (failure, cause) = match without_rows {
        Some(None) => (first, Cause::Data),
        Some(Some(again)) => (again, Cause::Schema),
        None => (first, Cause::Schema),
    };
    report.failed_step = Some(failure.step);
    report.error = Some(failure.message);
    report.cause = Some(cause);
    if cause == Cause::Data {
        report.hazard = Some(failure.hazard);
    }
}

/// Runs one script as the runner would: in its own transaction unless it must run outside one.
pub(super) fn run_alone(
    client: &mut Client,
    script: &Script,
    step: Step,
) -> Result<Option<Failure>, postgres::Error> {
    if script.directives.no_transaction {
        return run_script(client, script, step, "");
    }
    let mut transaction = client.transaction()?;
    let failure = run_script(&mut transaction, script, step, "")?;
    if failure.is_none() {
        transaction.commit()?;
    }
    Ok(failure)
}

/// Runs a script as it is, a batched one over its whole key range.
pub(crate) fn execute(
    client: &mut impl GenericClient,
    script: &Script,
) -> Result<(), postgres::Error> {
    match &script.directives.batched {
        Some(batched) => crate::runner::run_whole(client, script, batched).map(|_| ()),
        None => client.batch_execute(&script.sql),
    }
}

pub(super) fn run_script(
    client: &mut impl GenericClient,
    script: &Script,
    step: Step,
    then: &str,
) -> Result<Option<Failure>, postgres::Error> {
    let outcome = match &script.directives.batched {
        Some(_) => execute(client, script).and_then(|()| {
            if then.is_empty() {
                Ok(())
            } else {
                client.batch_execute(then)
            }
        }),
        None => {
            // The newline ends a trailing `--` comment, the `;` an unterminated last statement.
            let batch = if then.is_empty() {
                script.sql.clone()
            } else {
                format!("{}\n;{then}", script.sql)
            };
            client.batch_execute(&batch)
        }
    };
    match outcome {
        Ok(()) => Ok(None),
        Err(error) => match error.as_db_error() {
            Some(db) => Ok(Some(Failure {
                step,
                message: describe_sql_error(script, &error),
                code: Some(db.code().clone()),
                hazard: Hazard {
                    table: db.table().map(str::to_owned),
                    column: db.column().map(str::to_owned),
                    value: if *db.code() == SqlState::NOT_NULL_VIOLATION {
                        Some("NULL".to_owned())
                    } else {
                        db.detail().map(str::to_owned)
                    },
                },
            })),
            None => Err(error),
        },
    }
}

/// The identifiers a script mentions: unquoted words folded to lower case as PostgreSQL folds
/// them, quoted ones as written. Keywords come along; they match no object and cost nothing.
pub(crate) fn mentioned_names(scripts: &[&str]) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for script in scripts {
        let mut chars = script.chars().peekable();
        while let Some(character) = chars.next() {
            if character == '"' {
                let mut name = String::new();
                while let Some(next) = chars.next() {
                    if next == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    name.push(next);
                }
                names.insert(name);
            } else if character.is_alphabetic() || character == '_' {
                let mut name = character.to_lowercase().collect::<String>();
                while let Some(next) = chars
                    .peek()
                    .copied()
                    .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                {
                    name.extend(next.to_lowercase());
                    chars.next();
                }
                names.insert(name);
            }
        }
    }
    // PostgreSQL truncates identifiers at 63 bytes and refuses longer `name` values: a longer
    // word (in a comment, say) names nothing.
    names.into_iter().filter(|name| name.len() < 64).collect()
}
