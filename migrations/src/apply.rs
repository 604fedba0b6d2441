//! The one way a database is changed: a request (migrate to a target or to the newest, roll back
//! some or down to a version) planned against the database's history and run, what ran coming
//! back as the runner's report. Callers hold the migration lock, and have settled what a dead
//! runner left, before they read the history they pass in.

use postgres::Client;

use crate::database::{ConnectError, DatabaseError, DatabaseUrl, ScratchDatabase};
use crate::history::{self, History};
use crate::model::{Direction, Migration, Version};
use crate::plan::{plan_migrate, plan_rollback, PlanError, RollbackTarget};
use crate::runner::{Event, Observer, Report, RunError, RunFailure, Runner, Settings};
use crate::source::MigrationSet;

/// What to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Apply the pending migrations up to `target`, or all of them.
    Migrate {
        target: Option<Version>,
        allow_out_of_order: bool,
    },
    /// Revert applied migrations, newest first.
    Rollback(RollbackTarget),
}

impl Request {
    /// Every pending migration, in order.
    pub const TO_HEAD: Request = Request::Migrate {
        target: None,
        allow_out_of_order: false,
    };

    pub fn direction(self) -> Direction {
        match self {
            Request::Migrate { .. } => Direction::Up,
            Request::Rollback(_) => Direction::Down,
        }
    }

    /// The migrations this request runs, in order, or why it is refused (nothing runs then).
    pub fn plan<'s>(
        self,
        set: &'s MigrationSet,
        history: &History,
    ) -> Result<Vec<&'s Migration>, PlanError> {
        match self {
            Request::Migrate {
                target,
                allow_out_of_order,
            } => plan_migrate(set, history, target, allow_out_of_order),
            Request::Rollback(target) => plan_rollback(set, history, target),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Refused by the plan: nothing ran.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A migration failed; the report says what ran before it.
    #[error(transparent)]
    Run(#[from] RunFailure),
}

/// Plans `request` against `history` and runs the plan, telling `observer` what happens. An
/// empty report: nothing was to be done.
pub fn apply(
    client: &mut Client,
    set: &MigrationSet,
    history: &History,
    request: Request,
    settings: Settings,
    observer: &mut dyn Observer,
) -> Result<Report, ApplyError> {
    let planned = request.plan(set, history)?;
    Ok(Runner::new(client, settings).run(&planned, request.direction(), observer)?)
}

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("creating a scratch database on {server}")]
    Create {
        server: String,
        #[source]
        source: DatabaseError,
    },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("creating the history tables")]
    History(#[source] postgres::Error),
    #[error("applying the migrations to a scratch database")]
    Apply(#[source] ApplyError),
}

/// A scratch database on `server` with every migration of `set` applied, dropped when the value
/// goes away.
pub fn migrated_scratch(
    server: &DatabaseUrl,
    set: &MigrationSet,
    application: &str,
) -> Result<ScratchDatabase, ScratchError> {
    let scratch = ScratchDatabase::create(server, "bomizzel_check").map_err(|source| {
        ScratchError::Create {
            server: server.server(),
            source,
        }
    })?;
    let mut client = scratch.url().connect(application)?;
    history::ensure_tables(&mut client).map_err(ScratchError::History)?;
    apply(
        &mut client,
        set,
        &History::default(),
        Request::TO_HEAD,
        Settings::default(),
        &mut |_: &Event<'_>| {},
    )
    .map_err(ScratchError::Apply)?;
    Ok(scratch)
}

/// What ran, whether or not a migration failed (with its error beside the report); a request
/// the plan refused stays an error, since nothing ran.
pub fn ran(result: Result<Report, ApplyError>) -> Result<(Report, Option<RunError>), PlanError> {
    match result {
        Ok(report) => Ok((report, None)),
        Err(ApplyError::Run(RunFailure { error, report })) => Ok((report, Some(*error))),
        Err(ApplyError::Plan(refusal)) => Err(refusal),
    }
}
