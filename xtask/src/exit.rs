//! The process's exit codes, one type for every command (README's table): a command that must
//! end with a code other than 1 returns an [`Exit::error`], which `main.rs` reads back.

use std::fmt;

use serde::{Serialize, Serializer};

/// How the process ends. The numbers are documented (README) and written into deploy reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Done (`deploy-db`: deployed, nothing pending, or a dry run).
    Success = 0,
    /// Refused or failed (`deploy-db`: before anything was changed).
    Failure = 1,
    /// Called wrongly: a flag, argument or combination the command does not accept.
    Usage = 2,
    /// `deploy-db` failed, and rolled back to the starting version with the data intact.
    RolledBack = 3,
    /// `deploy-db` failed and did not roll back (or the data differs): the restore command was
    /// printed.
    NotRolledBack = 4,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// An error that ends the process with this code.
    pub fn error(self, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Exited {
            exit: self,
            message: message.into(),
        })
    }

    /// Wrong usage, named by `message`.
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Exit::Usage.error(message)
    }

    /// The code an error ends the process with: its own when it carries one, else 1.
    pub fn of(error: &anyhow::Error) -> Exit {
        error
            .downcast_ref::<Exited>()
            .map_or(Exit::Failure, |exited| exited.exit)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

/// Written as the number, as README's JSON shows it.
impl Serialize for Exit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

/// The error behind [`Exit::error`]: its message is the whole `error:` line.
#[derive(Debug)]
struct Exited {
    exit: Exit,
    message: String,
}

impl fmt::Display for Exited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exited {}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn an_exit_survives_added_context_and_is_written_as_its_number() {
        let error = Exit::RolledBack.error("failed").context("deploying");
        assert_eq!(Exit::of(&error), Exit::RolledBack);
        assert_eq!(format!("{error:#}"), "deploying: failed");
        assert_eq!(Exit::of(&anyhow::anyhow!("plain")), Exit::Failure);
        assert_eq!(serde_json::to_string(&Exit::NotRolledBack).unwrap(), "4");
    }
}
