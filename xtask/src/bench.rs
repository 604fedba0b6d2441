//! `cargo xtask bench ...`: benchmarks, each printing a ratio against a baseline measured in the
//! same run (no absolute timings are ever asserted: the machines are noisy).

mod migrate;

use anyhow::Result;

use crate::flags::{Bench, BenchArgs};

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.bench {
        Bench::Migrate {
            count,
            rounds,
            database_url,
        } => migrate::run(*count, *rounds, database_url.as_deref()),
    }
}

/// The median of a few measurements, robust to one noisy round.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
