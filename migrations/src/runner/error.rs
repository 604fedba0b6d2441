//! How a script fails ([`RunError`]), with PostgreSQL's error placed at the line and column of
//! the file where it happened.

use std::time::Duration;

use postgres::error::SqlState;

use crate::model::Script;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("{file}{}: {message}{}", location_note(*.location), leftovers_note(.leftovers))]
    Sql {
        file: String,
        /// Line and column, when PostgreSQL says where in the file the error is.
        location: Option<(usize, usize)>,
        /// PostgreSQL's message with SQLSTATE, detail and hint.
        message: String,
        code: String,
        /// What a failed run outside a transaction left behind (e.g. an INVALID index).
        leftovers: Vec<String>,
    },
    #[error("{file}: gave up after {attempts} attempts: each waited {lock_timeout:?} (lock_timeout) for a lock another session holds; retry when the blocking transaction is gone{}", leftovers_note(.leftovers))]
    LockTimeout {
        file: String,
        attempts: u32,
        lock_timeout: Duration,
        leftovers: Vec<String>,
    },
    #[error("{file}: left the migration's transaction (a COMMIT, ROLLBACK or BEGIN in the file?); what ran after it was committed on its own, nothing was recorded; remove the transaction control and repair by hand")]
    EscapedTransaction { file: String },
    #[error("{file}: {message}")]
    Connection { file: String, message: String },
    #[error("{file}: batched data migration stopped: {message}; the batches done so far stay done, and the next migrate resumes after them")]
    Batched { file: String, message: String },
}

impl RunError {
    /// A lock another session held: `lock_timeout` ran out, or PostgreSQL broke a deadlock by
    /// failing this side. Trying again later may succeed.
    pub(crate) fn is_lock_conflict(&self) -> bool {
        matches!(self, RunError::Sql { code, .. }
            if code == SqlState::LOCK_NOT_AVAILABLE.code() || code == SqlState::T_R_DEADLOCK_DETECTED.code())
    }
}

fn location_note(location: Option<(usize, usize)>) -> String {
    location.map_or_else(String::new, |(line, column)| format!(":{line}:{column}"))
}

fn leftovers_note(leftovers: &[String]) -> String {
    if leftovers.is_empty() {
        String::new()
    } else {
        format!(
            "; left behind: INVALID index {} (the next migrate drops and rebuilds it)",
            leftovers.join(", ")
        )
    }
}

pub(crate) fn connection_error(file: &str, error: &postgres::Error) -> RunError {
    RunError::Connection {
        file: file.to_owned(),
        message: match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => format!("lost the connection to PostgreSQL: {error}"),
        },
    }
}

/// `file[:line:col]: message (SQLSTATE ...)` for an error a script raised.
pub fn describe_sql_error(script: &Script, error: &postgres::Error) -> String {
    sql_error(script, error, Vec::new()).to_string()
}

/// PostgreSQL's error, placed at the line and column of the script where it happened.
pub(crate) fn sql_error(
    script: &Script,
    error: &postgres::Error,
    leftovers: Vec<String>,
) -> RunError {
    let file = script.file_name();
    let Some(db) = error.as_db_error() else {
        return connection_error(&file, error);
    };
    // Without a position (many errors have none) no line is claimed rather than a wrong one.
    let location = match db.position() {
        Some(postgres::error::ErrorPosition::Original(position)) => {
            Some(line_and_column(&script.sql, *position as usize))
        }
        _ => None,
    };
    let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        message.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        message.push_str(&format!("; hint: {hint}"));
    }
    RunError::Sql {
        file,
        location,
        message,
        code: db.code().code().to_owned(),
        leftovers,
    }
}

/// PostgreSQL reports a 1-based character offset into the query string.
fn line_and_column(sql: &str, position: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for character in sql.chars().take(position.saturating_sub(1)) {
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_become_lines_and_columns() {
        let sql = "-- c\nSELECT\n  nope;";
        assert_eq!(line_and_column(sql, 1), (1, 1));
        assert_eq!(line_and_column(sql, 6), (2, 1));
        assert_eq!(line_and_column(sql, 15), (3, 3));
    }
}
