//! The linter's verdicts on the pending migrations, made once per server and shared by every
//! database of a fleet deployed there.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use migrations::{DatabaseUrl, Version};

use crate::linter;

/// The linter's verdicts on pending migrations, made once per server, role and set of pending
/// versions and shared by every database of a fleet deployed there: the trace runs on a scratch
/// database of the server, so the target's own rows play no part in it (its table sizes are read
/// apart).
#[derive(Default)]
pub struct Verdicts {
    made: Mutex<HashMap<JudgedFor, Arc<OnceLock<Judged>>>>,
}

/// Server, role and pending versions.
type JudgedFor = (String, String, Vec<Version>);
pub(super) type Judged = (
    Arc<BTreeMap<Version, linter::PendingVerdict>>,
    Option<String>,
);

impl Verdicts {
    pub(super) fn judge(&self, dir: &Path, pending: &[Version], url: &DatabaseUrl) -> Judged {
        let cell = Arc::clone(
            self.made
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry((url.server(), url.user().to_owned(), pending.to_vec()))
                .or_default(),
        );
        // The other databases of the same server wait here for the one trace being made.
        cell.get_or_init(|| {
            let (verdicts, unavailable) = linter::judge_pending(dir, pending, url);
            (Arc::new(verdicts), unavailable)
        })
        .clone()
    }
}
