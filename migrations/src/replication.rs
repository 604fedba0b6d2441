//! Streaming standbys, watched on the primary: a batched data migration writes WAL as fast as the
//! primary allows, and a standby that cannot replay it as fast serves stale reads. Between
//! batches the runner asks [`Watch::wait_for_standbys`] to hold it while any standby is too far
//! behind, or one it saw has gone.
//!
//! How far behind, as a time: `pg_stat_replication.replay_lag` alone cannot say. It is NULL once
//! a standby is idle and caught up, and it stops moving while replay is paused (it is measured
//! when WAL is replayed), so a standby stuck on a conflict or a `pg_wal_replay_pause()` would look
//! fine. The watch therefore keeps its own clock of the primary's WAL: at each reading it notes
//! `pg_current_wal_lsn()` and when it saw it. A standby whose `replay_lsn` is behind the current
//! position has not replayed WAL that existed at the first reading past its position, so its lag
//! is at least the time since that reading; the lag used is the larger of that and
//! `replay_lag`. A standby with nothing left to replay (0 bytes behind) has no lag.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use postgres::Client;

/// How far behind standbys may fall, and how long to wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Pause between batches while any standby is further behind than this.
    pub max_lag: Duration,
    /// Give up (with the batches done so far committed) after waiting this long at once.
    pub wait: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_lag: Duration::from_secs(10),
            wait: Duration::from_secs(300),
        }
    }
}

/// One standby as the primary sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Standby {
    /// `application_name at client address`, how people recognise a standby.
    pub name: String,
    /// WAL written on the primary and not yet replayed there; `None` when the role reading
    /// `pg_stat_replication` may not see positions (it needs `pg_monitor` or superuser).
    pub bytes_behind: Option<i64>,
    /// How old the oldest WAL it has not replayed is (see the module's documentation).
    pub lag: Duration,
    /// `replay_lsn` as text, e.g. `0/3000148`.
    pub replay_lsn: Option<String>,
    /// `replay_lsn` in bytes from `0/0`, to compare with `pg_current_wal_lsn()` read earlier.
    pub replay_position: Option<i64>,
}

impl std::fmt::Display for Standby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.bytes_behind {
            Some(bytes) => write!(
                f,
                "standby {} is {:.1} s behind ({} of WAL not replayed)",
                self.name,
                self.lag.as_secs_f64(),
                bytes_text(bytes)
            ),
            None => write!(f, "standby {}: position not visible", self.name),
        }
    }
}

/// What the watch tells the runner's observer.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Stopped between batches, after `after_batch` batches, for these reasons.
    Paused {
        after_batch: i32,
        reasons: Vec<String>,
    },
    /// Every standby is back within the limit.
    Resumed { waited: Duration },
    /// A standby whose position this role may not read; it is not watched.
    Unwatchable { standby: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("reading pg_stat_replication: {0}")]
    Query(#[from] postgres::Error),
    #[error("{}; gave up after waiting {} for the standbys (--replica-wait)", .reasons.join("; "), humane(*.waited))]
    GaveUp {
        reasons: Vec<String>,
        waited: Duration,
    },
}

const POLL: Duration = Duration::from_millis(250);
/// The WAL clock's length bound: a run paused for hours must not grow it without end.
const MOST_SAMPLES: usize = 100_000;

/// The standbys of one run: the ones seen so far, and the clock of the primary's WAL.
pub struct Watch {
    policy: Policy,
    seen: BTreeSet<String>,
    reported: BTreeSet<String>,
    samples: VecDeque<(Instant, i64)>,
}

impl Watch {
    pub fn new(policy: Policy) -> Watch {
        Watch {
            policy,
            seen: BTreeSet::new(),
            reported: BTreeSet::new(),
            samples: VecDeque::new(),
        }
    }

    /// Every standby connected now, with its lag, and the standbys seen earlier that are gone.
    pub fn read(
        &mut self,
        client: &mut Client,
    ) -> Result<(Vec<Standby>, Vec<String>), ReplicaError> {
        let now = Instant::now();
        let current: i64 = client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint",
                &[],
            )?
            .get(0);
        if self.samples.back().map(|last| last.1) != Some(current) {
            self.samples.push_back((now, current));
        }
        // `state <> 'backup'`: a pg_basebackup in progress is a WAL sender too, not a standby.
        let rows = client.query(
            "SELECT coalesce(nullif(application_name, ''), 'pid ' || pid)
                        || coalesce(' at ' || host(client_addr), ' (local socket)'),
                    pg_wal_lsn_diff(replay_lsn, '0/0')::bigint,
                    extract(epoch FROM replay_lag)::float8,
                    replay_lsn::text
             FROM pg_stat_replication WHERE state IS DISTINCT FROM 'backup' ORDER BY 1",
            &[],
        )?;
        let standbys: Vec<Standby> = rows
            .iter()
            .map(|row| {
                let replay: Option<i64> = row.get(1);
                let reported: Option<f64> = row.get(2);
                Standby {
                    name: row.get(0),
                    bytes_behind: replay.map(|replay| (current - replay).max(0)),
                    lag: replay.map_or(Duration::ZERO, |replay| {
                        self.lag(now, current, replay, reported)
                    }),
                    replay_lsn: row.get(3),
                    replay_position: replay,
                }
            })
            .collect();
        let present: BTreeSet<String> = standbys.iter().map(|s| s.name.clone()).collect();
        let gone: Vec<String> = self.seen.difference(&present).cloned().collect();
        self.seen.extend(present);
        // Only the readings past the least replayed position are still needed to date a lag.
        let oldest = standbys
            .iter()
            .filter_map(|s| s.bytes_behind.map(|bytes| current - bytes))
            .min()
            .unwrap_or(current);
        while self.samples.len() > 1
            && (self.samples[1].1 <= oldest || self.samples.len() > MOST_SAMPLES)
        {
            self.samples.pop_front();
        }
        Ok((standbys, gone))
    }

    fn lag(&self, now: Instant, current: i64, replay: i64, reported: Option<f64>) -> Duration {
        if replay >= current {
            return Duration::ZERO;
        }
        let unreplayed_since = self
            .samples
            .iter()
            .find(|(_, lsn)| *lsn > replay)
            .map_or(now, |(at, _)| *at);
        let reported = reported
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        now.duration_since(unreplayed_since).max(reported)
    }

    /// Returns at once when every standby is within the limit; otherwise says why it pauses and
    /// waits, polling, until they are (saying so) or until the policy's wait is over (an error).
    pub fn wait_for_standbys(
        &mut self,
        client: &mut Client,
        after_batch: i32,
        notify: &mut dyn FnMut(Notice),
    ) -> Result<(), ReplicaError> {
        let started = Instant::now();
        let mut paused = false;
        loop {
            let (standbys, gone) = self.read(client)?;
            let mut reasons = Vec::new();
            for standby in &standbys {
                if standby.bytes_behind.is_none() {
                    if self.reported.insert(standby.name.clone()) {
                        notify(Notice::Unwatchable {
                            standby: standby.name.clone(),
                        });
                    }
                } else if standby.lag > self.policy.max_lag {
                    reasons.push(format!(
                        "{standby}, more than --max-replica-lag {}",
                        humane(self.policy.max_lag)
                    ));
                }
            }
            for name in gone {
                reasons.push(format!(
                    "standby {name} left pg_stat_replication (disconnected or stopped)"
                ));
            }
            if reasons.is_empty() {
                if paused {
                    notify(Notice::Resumed {
                        waited: started.elapsed(),
                    });
                }
                return Ok(());
            }
            if started.elapsed() >= self.policy.wait {
                return Err(ReplicaError::GaveUp {
                    reasons,
                    waited: self.policy.wait,
                });
            }
            if !paused {
                notify(Notice::Paused {
                    after_batch,
                    reasons,
                });
                paused = true;
            }
            std::thread::sleep(POLL.min(self.policy.wait.saturating_sub(started.elapsed())));
        }
    }
}

/// `12.3 MB`, `512 bytes`.
pub fn bytes_text(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}

/// `1.5s`, `5m`: durations as the flags take them.
pub fn humane(duration: Duration) -> String {
    let millis = duration.as_millis();
    match (millis / 60_000, millis % 60_000, millis % 1000) {
        (minutes, 0, _) if minutes > 0 => format!("{minutes}m"),
        (_, _, 0) => format!("{}s", millis / 1000),
        _ => format!("{:.1}s", duration.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_replay_ages_by_the_wal_clock_not_by_replay_lag() {
        let mut watch = Watch::new(Policy::default());
        let start = Instant::now();
        watch.samples.push_back((start, 100));
        watch
            .samples
            .push_back((start + Duration::from_secs(5), 200));
        let now = start + Duration::from_secs(20);
        // Replayed up to 150: the WAL past it existed at the second reading, 15 s ago.
        assert_eq!(watch.lag(now, 200, 150, Some(0.2)), Duration::from_secs(15));
        assert_eq!(
            watch.lag(now, 200, 50, None),
            Duration::from_secs(20),
            "behind the first reading"
        );
        assert_eq!(watch.lag(now, 200, 200, Some(3.0)), Duration::ZERO);
        assert_eq!(
            watch.lag(now, 200, 199, Some(30.0)),
            Duration::from_secs(30),
            "replay_lag when it says more"
        );
    }

    #[test]
    fn sizes_and_durations_read_like_the_flags() {
        assert_eq!(bytes_text(512), "512 bytes");
        assert_eq!(bytes_text(3 << 20), "3.0 MB");
        assert_eq!(humane(Duration::from_secs(10)), "10s");
        assert_eq!(humane(Duration::from_secs(300)), "5m");
        assert_eq!(humane(Duration::from_millis(1500)), "1.5s");
    }
}
