//! What every bench's measurement shares: a settled server before each timed run, and the median
//! of the rounds.

/// Flushes what earlier runs left for the disk (a dropped database's files, dirty buffers), so
/// that no timed run pays for the one before it. Best effort: it needs a privileged role.
pub(super) fn settle(server: &migrations::DatabaseUrl) {
    if let Ok(mut client) = server.connect("bomizzel-bench") {
        let _ = client.batch_execute("CHECKPOINT");
    }
}

/// The median of a few measurements, robust to one noisy round.
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
