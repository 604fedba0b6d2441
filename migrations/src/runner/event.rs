//! What happens while migrations run, told to an [`Observer`] as it happens (for live printing
//! and logging); what ran in the end is the runner's report.

use std::time::Duration;

use crate::model::{Direction, Migration};
use crate::replication::Notice;
use crate::runner::error::RunError;

/// What happens while running, for the caller to print and log. The runner itself never prints.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        migration: &'a Migration,
        direction: Direction,
    },
    /// Invalid indexes a failed run outside a transaction left behind, dropped before trying again.
    CleanedUp {
        migration: &'a Migration,
        dropped: &'a [String],
    },
    Retrying {
        migration: &'a Migration,
        direction: Direction,
        attempt: u32,
        wait: Duration,
        error: &'a RunError,
    },
    /// A batch of a batched data migration was committed.
    Batch {
        migration: &'a Migration,
        direction: Direction,
        progress: Progress,
    },
    /// A batched data migration paused for, or resumed after, lagging standbys.
    Replicas {
        migration: &'a Migration,
        direction: Direction,
        notice: &'a Notice,
    },
    Finished {
        migration: &'a Migration,
        direction: Direction,
        duration: Duration,
    },
    Failed {
        migration: &'a Migration,
        direction: Direction,
        duration: Duration,
        error: &'a RunError,
    },
}

pub trait Observer {
    fn event(&mut self, event: &Event<'_>);
}

impl<F: FnMut(&Event<'_>)> Observer for F {
    fn event(&mut self, event: &Event<'_>) {
        self(event)
    }
}

/// Where a batched run stands, as the progress table and the events report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub rows: i64,
    pub batches: i32,
    /// Share of the key range done, 0.0 to 1.0.
    pub fraction: f64,
    pub rows_per_second: f64,
}
