//! `cargo xtask bench backup`: a generated database of the given size, backed up by bare
//! `pg_dump --format=custom` and by `cargo xtask backup` (the real command, as a process, without
//! --verify), then restored by bare `pg_restore --single-transaction` and by `cargo xtask restore`
//! into fresh scratch databases, in the same run. Target: backup within 1.2x of bare pg_dump.
//! One `backup --verify` is timed at the end, for information (not part of the ratio).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, ScratchDatabase};
use xshell::{cmd, Shell};

use crate::plumbing::pg_tools::{self, ServerVersion, Tool};
use crate::plumbing::target_database;

const TARGET_RATIO: f64 = 1.2;
/// Rows per generated batch; the size is checked after each.
const BATCH: i64 = 100_000;

/// The tools every round uses, and where they put their files.
struct Bench<'a> {
    sh: Shell,
    xtask: PathBuf,
    pg_dump: Tool,
    pg_restore: Tool,
    server: &'a DatabaseUrl,
    source: &'a DatabaseUrl,
    work: &'a Path,
}

/// Each round's seconds, per tool.
#[derive(Default)]
struct Times {
    bare_dump: Vec<f64>,
    our_dump: Vec<f64>,
    bare_restore: Vec<f64>,
    our_restore: Vec<f64>,
}

pub fn run(size_mb: u64, rounds: usize, database_url: Option<&str>) -> Result<()> {
    let rounds = rounds.max(1);
    let server = target_database::server(database_url)?;
    let source = ScratchDatabase::create(&server, "bomizzel_bench_backup")
        .with_context(|| format!("creating a scratch database on {}", server.server()))?;
    let (bytes, generated_in) = generate(source.url(), size_mb)?;
    println!(
        "generated {} in {} ({} rounds, server {server})",
        pg_tools::human_size(bytes),
        pg_tools::seconds(generated_in),
        rounds
    );
    let sh = Shell::new()?;
    let version = ServerVersion::query(&mut source.url().connect(target_database::APPLICATION)?)?;
    let work = tempfile::tempdir().context("creating a scratch folder")?;
    let bench = Bench {
        xtask: std::env::current_exe().context("locating the xtask binary")?,
        pg_dump: pg_tools::find(&sh, "pg_dump", &version)?,
        pg_restore: pg_tools::find(&sh, "pg_restore", &version)?,
        sh,
        server: &server,
        source: source.url(),
        work: work.path(),
    };
    let mut times = Times::default();
    for round in 1..=rounds {
        bench.round(round, &mut times)?;
    }
    let verify_elapsed = bench.time_verify()?;
    print_medians(times, verify_elapsed);
    Ok(())
}

impl Bench<'_> {
    /// One round: both backups, then both restores, the bare tools first in odd rounds.
    fn round(&self, round: usize, times: &mut Times) -> Result<()> {
        let (sh, xtask, work) = (&self.sh, &self.xtask, self.work);
        // Alternate which goes first, so a warming cache favours neither.
        let order = if round % 2 == 1 {
            [true, false]
        } else {
            [false, true]
        };
        let bare_file = work.join(format!("bare-{round}.dump"));
        let our_dir = work.join(format!("ours-{round}"));
        for bare in order {
            let elapsed = if bare {
                time_bare_dump(sh, &self.pg_dump, self.source, &bare_file)?
            } else {
                time_our_backup(sh, xtask, self.source, &our_dir, work)?
            };
            print_round(
                round,
                if bare { "pg_dump" } else { "xtask backup" },
                elapsed,
            );
            if bare {
                times.bare_dump.push(elapsed.as_secs_f64());
            } else {
                times.our_dump.push(elapsed.as_secs_f64());
            }
        }
        let our_file = only_file(&our_dir)?;
        for bare in order {
            let target = ScratchDatabase::create(self.server, "bomizzel_bench_restore")?;
            let elapsed = if bare {
                time_bare_restore(sh, &self.pg_restore, target.url(), &bare_file)?
            } else {
                time_our_restore(sh, xtask, target.url(), &our_file, work)?
            };
            print_round(
                round,
                if bare { "pg_restore" } else { "xtask restore" },
                elapsed,
            );
            if bare {
                times.bare_restore.push(elapsed.as_secs_f64());
            } else {
                times.our_restore.push(elapsed.as_secs_f64());
            }
        }
        std::fs::remove_file(&bare_file).ok();
        std::fs::remove_dir_all(&our_dir).ok();
        Ok(())
    }

    /// One `backup --verify`, for information.
    fn time_verify(&self) -> Result<Duration> {
        let (sh, xtask) = (&self.sh, &self.xtask);
        let verify_dir = self.work.join("verify");
        let started = Instant::now();
        let log = self.work.join("bench.log");
        cmd!(sh, "{xtask} backup --verify --out {verify_dir} --log {log}")
            .env("DATABASE_URL", self.source.secret_conninfo())
            .quiet()
            .ignore_stdout()
            .run()
            .context("cargo xtask backup --verify failed during the benchmark")?;
        Ok(started.elapsed())
    }
}

/// The medians, their ratios against the bare tools, and the verified backup's time.
fn print_medians(times: Times, verify_elapsed: Duration) {
    let (dump_ours, dump_bare) = (
        super::measure::median(times.our_dump),
        super::measure::median(times.bare_dump),
    );
    let (restore_ours, restore_bare) = (
        super::measure::median(times.our_restore),
        super::measure::median(times.bare_restore),
    );
    let dump_ratio = dump_ours / dump_bare;
    let restore_ratio = restore_ours / restore_bare;
    println!(
        "median backup:  xtask backup {:.2} s, pg_dump {:.2} s, ratio {dump_ratio:.2}x (target <= {TARGET_RATIO}x): {}",
        dump_ours,
        dump_bare,
        if dump_ratio <= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    println!(
        "median restore: xtask restore {:.2} s, pg_restore {:.2} s, ratio {restore_ratio:.2}x",
        restore_ours, restore_bare
    );
    println!(
        "backup --verify (dump, pg_restore --list, restore into a scratch database, checksums of both): {:.2} s, {:.2}x bare pg_dump",
        verify_elapsed.as_secs_f64(),
        verify_elapsed.as_secs_f64() / dump_bare
    );
}

fn print_round(round: usize, name: &str, elapsed: Duration) {
    println!("round {round}: {name:<14} {:>9.2} s", elapsed.as_secs_f64());
}

/// Fills the database with server-side SQL (tickets, comments, an index each) until it reaches
/// `size_mb`. Returns its size and how long that took.
fn generate(url: &DatabaseUrl, size_mb: u64) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let mut client = url.connect(target_database::APPLICATION)?;
    client
        .batch_execute(
            "CREATE TABLE bench_queues (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO bench_queues SELECT g, 'queue ' || g FROM generate_series(1, 100) AS g;
             CREATE TABLE bench_tickets (
                 id bigint PRIMARY KEY, queue_id int NOT NULL REFERENCES bench_queues (id),
                 priority int NOT NULL, title text NOT NULL, body text NOT NULL,
                 created_at timestamptz NOT NULL);
             CREATE INDEX bench_tickets_queue_idx ON bench_tickets (queue_id, priority);
             CREATE TABLE bench_comments (
                 id bigint PRIMARY KEY, ticket_id bigint NOT NULL, body text NOT NULL,
                 created_at timestamptz NOT NULL);",
        )
        .context("creating the benchmark tables")?;
    let target = i64::try_from(size_mb * 1024 * 1024).unwrap_or(i64::MAX);
    let mut next: i64 = 1;
    loop {
        let size: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])?
            .get(0);
        if size >= target {
            break;
        }
        let last = next + BATCH - 1;
        client
            .execute(
                "INSERT INTO bench_tickets
                 SELECT g, 1 + g % 100, g % 5, 'ticket ' || md5(g::text),
                        repeat(md5((g * 7)::text), 3), timestamptz '2026-01-01' + g * interval '1 second'
                 FROM generate_series($1::int8, $2::int8) AS g",
                &[&next, &last],
            )
            .context("generating tickets")?;
        client
            .execute(
                "INSERT INTO bench_comments
                 SELECT g, 1 + (g * 31) % $2::int8, 'comment ' || md5((g * 3)::text) || ' ' || md5(g::text),
                        timestamptz '2026-01-01' + g * interval '2 seconds'
                 FROM generate_series($1::int8, $2::int8) AS g",
                &[&next, &last],
            )
            .context("generating comments")?;
        next = last + 1;
    }
    client
        .batch_execute("CREATE INDEX bench_comments_ticket_idx ON bench_comments (ticket_id)")
        .context("indexing the generated data")?;
    client
        .batch_execute("VACUUM ANALYZE")
        .context("vacuuming the generated data")?;
    let size: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])?
        .get(0);
    Ok((u64::try_from(size).unwrap_or_default(), started.elapsed()))
}

fn time_bare_dump(sh: &Shell, pg_dump: &Tool, url: &DatabaseUrl, file: &Path) -> Result<Duration> {
    let program = &pg_dump.path;
    let started = Instant::now();
    pg_tools::run_tool(
        pg_tools::connect_env(
            cmd!(sh, "{program} --no-password --format=custom --file {file}"),
            url,
        ),
        "bare pg_dump",
    )?;
    Ok(started.elapsed())
}

fn time_our_backup(
    sh: &Shell,
    xtask: &Path,
    url: &DatabaseUrl,
    out: &Path,
    work: &Path,
) -> Result<Duration> {
    let log = work.join("bench.log");
    let started = Instant::now();
    cmd!(sh, "{xtask} backup --out {out} --log {log}")
        .env("DATABASE_URL", url.secret_conninfo())
        .quiet()
        .ignore_stdout()
        .run()
        .context("cargo xtask backup failed during the benchmark")?;
    Ok(started.elapsed())
}

fn time_bare_restore(
    sh: &Shell,
    pg_restore: &Tool,
    target: &DatabaseUrl,
    file: &Path,
) -> Result<Duration> {
    let program = &pg_restore.path;
    let name = target.database();
    let started = Instant::now();
    pg_tools::run_tool(
        pg_tools::connect_env(
            cmd!(
                sh,
                "{program} --no-password --exit-on-error --single-transaction --dbname {name} {file}"
            ),
            target,
        ),
        "bare pg_restore",
    )?;
    Ok(started.elapsed())
}

fn time_our_restore(
    sh: &Shell,
    xtask: &Path,
    target: &DatabaseUrl,
    file: &Path,
    work: &Path,
) -> Result<Duration> {
    let log = work.join("bench.log");
    let name = target.database();
    let started = Instant::now();
    cmd!(sh, "{xtask} restore {file} --target-db {name} --log {log}")
        .env("DATABASE_URL", target.secret_conninfo())
        .quiet()
        .ignore_stdout()
        .run()
        .context("cargo xtask restore failed during the benchmark")?;
    Ok(started.elapsed())
}

/// The one backup `cargo xtask backup --out DIR` wrote into DIR.
fn only_file(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "dump"))
        .with_context(|| format!("no backup in {}", dir.display()))
}
