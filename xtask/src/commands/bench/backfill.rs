//! `cargo xtask bench backfill`: one data transformation (`new_value = old_value * 2` over a
//! generated `items` table) done three ways on the same scratch database, in the same run:
//!
//! - (a) our batched runner: a `-- xtask: batched items id` migration applied by
//!   `cargo xtask migrate` as a process;
//! - (b) one `UPDATE` of the whole table: the physical limit for throughput, and a stall for
//!   every writer touching the table until it commits;
//! - (c) the loop the strategy warns against: OFFSET pages of ids, one autocommitted `UPDATE`
//!   per row, on 1/100 of the rows, its rate scaled linearly (which flatters it: each OFFSET
//!   page costs more than the one before).
//!
//! While each runs, `cargo xtask bench writer` (a second process, on loopback) reads and updates
//! random rows and reports its p99 and its longest stall. The batched runner's batches are
//! timed from its progress rows: a batch's `updated_at` is its transaction's start, so the gap
//! to the next batch's bounds how long it held row locks (it also counts the next range query).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use super::writer::{Report, Writer};
use crate::plumbing::replica_pair::Cluster;
use crate::plumbing::target_database;
use migrations::replication::Watch;

const TARGET_SHARE_OF_ONE_UPDATE: f64 = 0.5;
const TARGET_LONGEST_BATCH_MS: f64 = 250.0;
const TARGET_LONGEST_STALL_MS: f64 = 300.0;
/// (c) runs on rows / OFFSET_SCALE rows.
const OFFSET_SCALE: u64 = 100;
const PAGE: i64 = 1000;
const APPLICATION: &str = "bomizzel-bench";

struct Measured {
    name: &'static str,
    rows: u64,
    elapsed: Duration,
    writer: Report,
}

impl Measured {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub fn run(rows: u64, database_url: Option<&str>) -> Result<()> {
    let server = target_database::server(database_url)?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let scratch = ScratchDatabase::create(&server, "bomizzel_bench")
        .with_context(|| format!("creating a scratch database on {}", server.server()))?;
    let url = scratch.url();
    let conninfo = url.secret_conninfo();
    let mut client = url.connect(APPLICATION)?;

    generate(&mut client, url, rows)?;

    let small = (rows / OFFSET_SCALE).max(PAGE as u64);

    // (b) first: the baseline the others are compared with.
    reset(&mut client, &server)?;
    let whole = measure(
        &sh,
        &xtask,
        &conninfo,
        "(b) one UPDATE of the whole table",
        || {
            let changed = client.execute("UPDATE items SET new_value = old_value * 2", &[])?;
            Ok(changed)
        },
    )?;
    check(&mut client, rows)?;

    reset(&mut client, &server)?;
    let migrations_dir = work.path().join("sql");
    write_batched_migration(&migrations_dir)?;
    let (batched, batches) = {
        let sampler = BatchSampler::start(url)?;
        let measured = measure(&sh, &xtask, &conninfo, "(a) our batched runner", || {
            let log = work.path().join("migrations.log");
            migrate(&sh, &xtask, &conninfo, &migrations_dir, &log)?;
            Ok(rows)
        })?;
        (measured, sampler.finish()?)
    };
    check(&mut client, rows)?;

    reset(&mut client, &server)?;
    let offset = measure(
        &sh,
        &xtask,
        &conninfo,
        "(c) OFFSET pages, one UPDATE per row",
        || offset_loop(&mut client, small),
    )?;
    check(&mut client, small)?;

    print_table(&[&batched, &whole, &offset], &whole, small, rows, &batches);
    print_targets(&batched, &whole, &batches);
    Ok(())
}

/// Each method's line, then how (a) and (c) were measured.
fn print_table(all: &[&Measured], whole: &Measured, small: u64, rows: u64, batches: &Batches) {
    println!();
    println!(
        "{:<40} {:>9} {:>9} {:>11} {:>8} {:>10} {:>9} {:>14}",
        "method", "rows", "seconds", "rows/s", "vs (b)", "writer ops", "p99 ms", "longest stall"
    );
    for measured in all {
        println!(
            "{:<40} {:>9} {:>9.2} {:>11.0} {:>7.3}x {:>10} {:>9.2} {:>11.1} ms",
            measured.name,
            measured.rows,
            measured.elapsed.as_secs_f64(),
            measured.rows_per_second(),
            measured.rows_per_second() / whole.rows_per_second(),
            measured.writer.operations,
            measured.writer.p99_ms,
            measured.writer.max_ms
        );
    }
    println!(
        "(c) ran on {small} rows (1/{OFFSET_SCALE} of {rows}) and its rows/s is that rate, scaled \
         linearly to the full table: an optimistic figure, since every OFFSET page costs more than the last"
    );
    match batches.longest {
        Some(longest) => println!(
            "(a) {} batches seen of {} (at most {} rows each); longest batch, from its start to \
             the next batch's start (an upper bound on its row locks): {:.1} ms",
            batches.observed, batches.total, batches.largest_size, longest
        ),
        None => println!("(a) no batch was observed in bomizzel_backfill_progress"),
    }
}

/// The three targets of (a), and (b)'s stall for contrast.
fn print_targets(batched: &Measured, whole: &Measured, batches: &Batches) {
    let share = batched.rows_per_second() / whole.rows_per_second();
    println!();
    println!("targets:");
    println!(
        "  (a) throughput >= {TARGET_SHARE_OF_ONE_UPDATE} of (b): {share:.2} of (b): {}",
        verdict(share >= TARGET_SHARE_OF_ONE_UPDATE)
    );
    let longest = batches.longest.unwrap_or(f64::INFINITY);
    println!(
        "  (a) no batch holds row locks > {TARGET_LONGEST_BATCH_MS} ms: longest {longest:.1} ms: {}",
        verdict(longest <= TARGET_LONGEST_BATCH_MS)
    );
    println!(
        "  (a) writers' longest stall < {TARGET_LONGEST_STALL_MS} ms: {:.1} ms: {}",
        batched.writer.max_ms,
        verdict(batched.writer.max_ms < TARGET_LONGEST_STALL_MS)
    );
    println!(
        "  for contrast, (b) stalled the writers {:.1} ms of its {:.1} ms run",
        whole.writer.max_ms,
        whole.elapsed.as_secs_f64() * 1e3
    );
}

/// The `items` table with `rows` rows, `new_value` empty, and the engine's history tables.
fn generate(client: &mut postgres::Client, url: &DatabaseUrl, rows: u64) -> Result<()> {
    println!("generating {rows} rows in items (database {url})");
    let started = Instant::now();
    client.batch_execute(
        "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             old_value int NOT NULL, new_value int)",
    )?;
    client.execute(
        "INSERT INTO items (old_value) SELECT (g % 1000003)::int FROM generate_series(1, $1::bigint) AS g",
        &[&i64::try_from(rows)?],
    )?;
    client.batch_execute("VACUUM ANALYZE items")?;
    migrations::history::ensure_tables(client).context("creating the history tables")?;
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The replica-aware runner's price: the batched run (a) on a primary of its own, alone, then
/// with a streaming standby attached, each beside the writer process, while a sampler reads the
/// standby's lag on the primary as the runner does.
pub fn run_with_standby(rows: u64) -> Result<()> {
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    println!("starting a primary on port {PRIMARY_PORT}");
    let primary = Cluster::primary("bomizzel_bench_primary", PRIMARY_PORT)?;
    let scratch = ScratchDatabase::create(&primary.url, "bomizzel_bench")
        .context("creating the benchmark's database on the primary")?;
    let url = scratch.url();
    let conninfo = url.secret_conninfo();
    let mut client = url.connect(APPLICATION)?;
    generate(&mut client, url, rows)?;
    let migrations_dir = work.path().join("sql");
    write_batched_migration(&migrations_dir)?;
    let log = work.path().join("migrations.log");
    let batched = |name: &'static str, client: &mut postgres::Client| -> Result<Measured> {
        reset(client, &primary.url)?;
        // The same migration again from the start: forget that it ran.
        client.batch_execute(
            "DELETE FROM refinery_schema_history; DELETE FROM bomizzel_migration_state;
             DELETE FROM bomizzel_backfill_progress",
        )?;
        let measured = measure(&sh, &xtask, &conninfo, name, || {
            migrate(&sh, &xtask, &conninfo, &migrations_dir, &log)?;
            Ok(rows)
        })?;
        check(client, rows)?;
        Ok(measured)
    };
    // Untimed: the first update of freshly generated rows pays for what later ones do not (the
    // pages' free space for HOT updates), so both timed runs start from an updated table.
    batched("(a) warm-up run, not compared", &mut client)?;
    let alone = batched("(a) batched runner, no standby", &mut client)?;
    println!("starting a standby on port {STANDBY_PORT} (pg_basebackup -R)");
    let standby = Cluster::standby("bomizzel_bench_standby", STANDBY_PORT, &primary)?;
    let sampler = LagSampler::start(url)?;
    let watched = batched("(a) batched runner, streaming standby", &mut client)?;
    let (largest_lag, largest_bytes) = sampler.finish()?;
    let pauses = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("\"outcome\":\"paused_for_standbys\"")
        .count();
    drop(standby);

    let policy = migrations::replication::Policy::default();
    let ratio = watched.rows_per_second() / alone.rows_per_second();
    println!();
    println!(
        "{:<40} {:>9} {:>9} {:>11} {:>10} {:>9} {:>14}",
        "method", "rows", "seconds", "rows/s", "writer ops", "p99 ms", "longest stall"
    );
    for measured in [&alone, &watched] {
        println!(
            "{:<40} {:>9} {:>9.2} {:>11.0} {:>10} {:>9.2} {:>11.1} ms",
            measured.name,
            measured.rows,
            measured.elapsed.as_secs_f64(),
            measured.rows_per_second(),
            measured.writer.operations,
            measured.writer.p99_ms,
            measured.writer.max_ms
        );
    }
    println!();
    println!(
        "throughput with the standby: {ratio:.2}x the run without ({pauses} pauses for the standby)"
    );
    println!(
        "standby's largest replay lag: {:.2} s ({} of WAL at most), threshold --max-replica-lag {}: {}",
        largest_lag.as_secs_f64(),
        migrations::replication::bytes_text(largest_bytes),
        migrations::replication::humane(policy.max_lag),
        verdict(largest_lag <= policy.max_lag)
    );
    Ok(())
}

const PRIMARY_PORT: u16 = 5463;
const STANDBY_PORT: u16 = 5464;

/// Reads the standbys' lag on the primary every 100 ms, as the runner computes it.
struct LagSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<(Duration, i64)>>,
}

impl LagSampler {
    fn start(url: &DatabaseUrl) -> Result<LagSampler> {
        let mut client = url.connect(APPLICATION)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut watch = Watch::new(migrations::replication::Policy::default());
            let (mut lag, mut bytes) = (Duration::ZERO, 0);
            let started = Instant::now();
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < LONGEST_SAMPLING {
                for standby in watch.read(&mut client)?.0 {
                    lag = lag.max(standby.lag);
                    bytes = bytes.max(standby.bytes_behind.unwrap_or(0));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok((lag, bytes))
        });
        Ok(LagSampler { stop, thread })
    }

    fn finish(self) -> Result<(Duration, i64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the lag sampler panicked"))?
    }
}

/// (a): `cargo xtask migrate` of the benchmark's batched migration, as a user runs it.
fn migrate(sh: &Shell, xtask: &Path, conninfo: &str, dir: &Path, log: &Path) -> Result<()> {
    cmd!(sh, "{xtask} migrate --dir {dir} --log {log}")
        .env("DATABASE_URL", conninfo)
        .quiet()
        .ignore_stdout()
        .run()
        .context("cargo xtask migrate failed during the benchmark")
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

/// Runs `method` with a writer process beside it; the writer starts before and stops after.
fn measure(
    sh: &Shell,
    xtask: &Path,
    conninfo: &str,
    name: &'static str,
    method: impl FnOnce() -> Result<u64>,
) -> Result<Measured> {
    println!("{name} ...");
    let writer = Writer::start(sh, xtask, conninfo)?;
    // Let the writer reach its steady state before the method starts.
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let rows = method()?;
    let elapsed = started.elapsed();
    let writer = writer.finish()?;
    println!(
        "  {rows} rows in {:.2} s; writer: {} statements, p99 {:.2} ms, longest {:.1} ms, {} errors",
        elapsed.as_secs_f64(),
        writer.operations,
        writer.p99_ms,
        writer.max_ms,
        writer.errors
    );
    Ok(Measured {
        name,
        rows,
        elapsed,
        writer,
    })
}

/// Puts the table back as generated (`new_value` empty, dead rows vacuumed, buffers flushed),
/// so no method pays for the one before.
fn reset(client: &mut postgres::Client, server: &DatabaseUrl) -> Result<()> {
    client.execute(
        "UPDATE items SET new_value = NULL WHERE new_value IS NOT NULL",
        &[],
    )?;
    client.batch_execute("VACUUM ANALYZE items")?;
    super::measure::settle(server);
    Ok(())
}

/// The first `rows` rows hold the transformed value.
fn check(client: &mut postgres::Client, rows: u64) -> Result<()> {
    let wrong: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT old_value, new_value FROM items ORDER BY id LIMIT $1) AS done
             WHERE new_value IS DISTINCT FROM old_value * 2",
            &[&i64::try_from(rows)?],
        )?
        .get(0);
    anyhow::ensure!(wrong == 0, "{wrong} rows were not transformed");
    Ok(())
}

fn write_batched_migration(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("V0001__backfill_items_new_value.sql"),
        "-- Purpose: benchmark: fill items.new_value from old_value\n\
         -- Risk: safe; batched, each batch locks only its rows, for about its batch-time\n\
         -- Rollback: empties new_value again, batched the same way\n\
         -- Performance: every row of items, in batches of about 200 ms\n\
         -- xtask: batched items id\n\
         UPDATE items SET new_value = old_value * 2 WHERE id > $1 AND id <= $2;\n",
    )?;
    std::fs::write(
        dir.join("V0001__backfill_items_new_value.down.sql"),
        "-- xtask: batched items id\n\
         UPDATE items SET new_value = NULL WHERE id > $1 AND id <= $2;\n",
    )?;
    Ok(())
}

/// The strategy's counter-example: pages of ids by OFFSET, each row updated in its own statement.
fn offset_loop(client: &mut postgres::Client, rows: u64) -> Result<u64> {
    let page = client.prepare("SELECT id FROM items ORDER BY id LIMIT $1 OFFSET $2")?;
    let update = client.prepare("UPDATE items SET new_value = old_value * 2 WHERE id = $1")?;
    let mut done = 0u64;
    let mut offset = 0i64;
    while done < rows {
        let ids = client.query(&page, &[&PAGE, &offset])?;
        if ids.is_empty() {
            break;
        }
        for row in ids.iter().take(usize::try_from(rows - done)?) {
            let id: i64 = row.get(0);
            client.execute(&update, &[&id])?;
            done += 1;
        }
        offset += PAGE;
    }
    Ok(done)
}

/// Reads the batched run's progress row every few milliseconds from its own connection.
struct BatchSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Vec<(i32, f64, i64)>>>,
}

struct Batches {
    total: i32,
    observed: usize,
    largest_size: i64,
    longest: Option<f64>,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(5);
/// The sampler's bound, whatever happens to the run.
const LONGEST_SAMPLING: Duration = Duration::from_secs(3600);

impl BatchSampler {
    fn start(url: &DatabaseUrl) -> Result<BatchSampler> {
        let mut client = url.connect(APPLICATION)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let query = client.prepare(
                "SELECT batches, extract(epoch FROM updated_at)::float8, rows_done
                 FROM bomizzel_backfill_progress WHERE direction = 'up'",
            )?;
            let started = Instant::now();
            let mut samples: Vec<(i32, f64, i64)> = Vec::new();
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < LONGEST_SAMPLING {
                if let Some(row) = client.query_opt(&query, &[])? {
                    let sample = (row.get(0), row.get(1), row.get(2));
                    if samples.last().map(|last| last.0) != Some(sample.0) {
                        samples.push(sample);
                    }
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            Ok(samples)
        });
        Ok(BatchSampler { stop, thread })
    }

    /// Consecutive samples one batch apart give that batch's start-to-next-start time.
    fn finish(self) -> Result<Batches> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the progress sampler panicked"))??;
        let mut longest: Option<f64> = None;
        let mut observed = 0;
        let mut largest_size = 0;
        for pair in samples.windows(2) {
            let ((batches, at, done), (next_batches, next_at, next_done)) = (pair[0], pair[1]);
            if next_batches == batches + 1 {
                observed += 1;
                let millis = (next_at - at) * 1e3;
                longest = Some(longest.map_or(millis, |l: f64| l.max(millis)));
                largest_size = largest_size.max(next_done - done);
            }
        }
        Ok(Batches {
            total: samples.last().map_or(0, |last| last.0),
            observed,
            largest_size,
            longest,
        })
    }
}
