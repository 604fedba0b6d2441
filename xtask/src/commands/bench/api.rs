//! `cargo xtask bench api`: the backend (release build) on a scratch database migrated to head,
//! driven from this process over loopback by client threads mixing list (80%) and create (20%)
//! requests for a fixed time. Prints throughput and latency percentiles: the baseline the
//! zero-downtime work measures against.
//!
//! With `--against REF` the backend of an earlier commit is built from a temporary worktree and
//! served beside this one, each on a database migrated by its own migrations; the two are driven
//! in turn (A B B A …) so drift in a noisy machine falls on both, and the ratio of their medians
//! is printed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::{DatabaseUrl, ScratchDatabase};
use serde_json::{json, Value};
use xshell::{cmd, Shell};

use super::backend::Backend;
use super::writer::percentile;
use crate::plumbing::{project, target_database};

pub struct Options<'a> {
    pub seconds: u64,
    pub clients: usize,
    pub database_url: Option<&'a str>,
    /// A git revision whose backend is the baseline.
    pub against: Option<&'a str>,
    /// Turns each backend gets when comparing.
    pub rounds: usize,
}

pub fn run(options: &Options) -> Result<()> {
    let server = target_database::server(options.database_url)?;
    let sh = Shell::new()?;
    sh.change_dir(project::root());
    let Some(revision) = options.against else {
        let head = Served::start(&sh, &server, None)?;
        println!(
            "{} clients for {} s against {}",
            options.clients, options.seconds, head.backend.base
        );
        head.drive(options.seconds, options.clients)?.print();
        return Ok(());
    };
    let checkout = Checkout::create(&sh, revision)?;
    let baseline = Served::start(&sh, &server, Some(&checkout.dir))?;
    let head = Served::start(&sh, &server, None)?;
    println!(
        "{} clients, {} rounds of {} s each, alternating {revision} and the working tree",
        options.clients, options.rounds, options.seconds
    );
    let mut baseline_runs = Vec::new();
    let mut head_runs = Vec::new();
    for round in 0..options.rounds {
        // A B, then B A: a machine growing slower or faster through the run weighs on both.
        let order = if round % 2 == 0 {
            [(&baseline, revision), (&head, "head")]
        } else {
            [(&head, "head"), (&baseline, revision)]
        };
        for (served, label) in order {
            let measurement = served.drive(options.seconds, options.clients)?;
            println!(
                "round {} {label:<12} {:>7.0} requests/s  backend CPU {:>5.0} µs/request  list p99 {:>6.2} ms  create p99 {:>6.2} ms  {} errors",
                round + 1,
                measurement.throughput(),
                measurement.cpu_per_request(),
                percentile(&measurement.lists, 0.99),
                percentile(&measurement.creates, 0.99),
                measurement.errors
            );
            if label == "head" {
                head_runs.push(measurement);
            } else {
                baseline_runs.push(measurement);
            }
        }
    }
    let median = |runs: &[Measurement], value: fn(&Measurement) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let list_p99 = |m: &Measurement| percentile(&m.lists, 0.99);
    let create_p99 = |m: &Measurement| percentile(&m.creates, 0.99);
    println!(
        "median throughput: head {:.0} requests/s, {revision} {:.0} requests/s: ratio {:.2}x (above 1: head is faster)",
        median(&head_runs, Measurement::throughput),
        median(&baseline_runs, Measurement::throughput),
        median(&head_runs, Measurement::throughput) / median(&baseline_runs, Measurement::throughput)
    );
    println!(
        "median backend CPU per request: head {:.0} µs, {revision} {:.0} µs: ratio {:.2}x (below 1: head costs less)",
        median(&head_runs, Measurement::cpu_per_request),
        median(&baseline_runs, Measurement::cpu_per_request),
        median(&head_runs, Measurement::cpu_per_request)
            / median(&baseline_runs, Measurement::cpu_per_request)
    );
    println!(
        "median p99: list {:.2} ms against {:.2} ms, create {:.2} ms against {:.2} ms",
        median(&head_runs, list_p99),
        median(&baseline_runs, list_p99),
        median(&head_runs, create_p99),
        median(&baseline_runs, create_p99)
    );
    Ok(())
}

/// A backend serving its own scratch database, seeded with a queue, a customer and 200 tickets.
struct Served {
    backend: Backend,
    token: String,
    queue_id: i64,
    _database: ScratchDatabase,
}

impl Served {
    /// This workspace's backend, or (given a checkout) an earlier one on its own migrations.
    fn start(sh: &Shell, server: &DatabaseUrl, checkout: Option<&Path>) -> Result<Served> {
        let migrations = checkout.map(|dir| dir.join(project::MIGRATIONS_DIR));
        let set = target_database::load(migrations.as_deref())?;
        let scratch = target_database::migrated_scratch(server, &set)?;
        let binary = super::backend::build(sh, checkout)?;
        let admin = super::backend::create_admin(sh, &binary, scratch.url())?;
        let backend = super::backend::start(sh, &binary, scratch.url(), "/health/ready")?;
        let base = &backend.base;
        let agent = agent();
        let queue = post(
            &agent,
            &format!("{base}/queues"),
            &admin,
            json!({"name": "bench"}),
        )?;
        let customer = post(
            &agent,
            &format!("{base}/users"),
            &admin,
            json!({"email": "customer@bench.example", "display_name": "Customer", "role": "customer"}),
        )?;
        let token = customer["token"]
            .as_str()
            .context("no token in the answer")?
            .to_owned();
        let queue_id = queue["id"].as_i64().context("no queue id in the answer")?;
        for index in 0..200 {
            post(
                &agent,
                &format!("{base}/tickets"),
                &token,
                ticket(queue_id, index),
            )?;
        }
        Ok(Served {
            backend,
            token,
            queue_id,
            _database: scratch,
        })
    }

    fn drive(&self, seconds: u64, clients: usize) -> Result<Measurement> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let agent = agent();
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let (stop, base, token, agent, queue_id) = (
                    stop.clone(),
                    self.backend.base.clone(),
                    self.token.clone(),
                    agent.clone(),
                    self.queue_id,
                );
                std::thread::spawn(move || drive(client, &agent, &base, &token, queue_id, &stop))
            })
            .collect();
        let cpu_before = self.backend.cpu_time();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        let mut measurement = Measurement {
            backend_cpu: cpu_before
                .zip(self.backend.cpu_time())
                .map(|(before, after)| after.saturating_sub(before)),
            ..Measurement::default()
        };
        for worker in workers {
            let outcome = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
            measurement.lists.extend(outcome.lists);
            measurement.creates.extend(outcome.creates);
            measurement.errors += outcome.errors;
        }
        measurement.elapsed = started.elapsed();
        measurement.lists.sort();
        measurement.creates.sort();
        Ok(measurement)
    }
}

/// A detached worktree of `revision` under target/xtask, removed when dropped.
struct Checkout<'a> {
    sh: &'a Shell,
    dir: PathBuf,
}

impl<'a> Checkout<'a> {
    fn create(sh: &'a Shell, revision: &str) -> Result<Checkout<'a>> {
        let dir = project::root().join("target/xtask/bench-api-baseline");
        if dir.exists() {
            // Left by an interrupted run.
            let _ = cmd!(sh, "git worktree remove --force {dir}").quiet().run();
            std::fs::remove_dir_all(&dir).ok();
        }
        cmd!(sh, "git worktree add --quiet --detach {dir} {revision}")
            .run()
            .with_context(|| format!("checking out {revision} to build the baseline backend"))?;
        Ok(Checkout { sh, dir })
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let dir = &self.dir;
        let _ = cmd!(self.sh, "git worktree remove --force {dir}")
            .quiet()
            .run();
    }
}

/// What one backend did in one timed turn (latencies sorted once the turn is over).
#[derive(Default)]
struct Measurement {
    lists: Vec<Duration>,
    creates: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
    /// CPU the backend process spent in the turn, where it can be read.
    backend_cpu: Option<Duration>,
}

impl Measurement {
    fn throughput(&self) -> f64 {
        (self.lists.len() + self.creates.len()) as f64 / self.elapsed.as_secs_f64()
    }

    /// Backend CPU microseconds per request.
    fn cpu_per_request(&self) -> f64 {
        self.backend_cpu.map_or(f64::NAN, |cpu| {
            cpu.as_secs_f64() * 1e6 / (self.lists.len() + self.creates.len()).max(1) as f64
        })
    }

    fn print(&self) {
        println!(
            "{} requests in {:.1} s: {:.0} requests/s, {} errors, backend CPU {:.0} µs per request",
            self.lists.len() + self.creates.len(),
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.errors,
            self.cpu_per_request()
        );
        for (name, latencies) in [
            ("list (GET /tickets)", &self.lists),
            ("create (POST /tickets)", &self.creates),
        ] {
            println!(
                "{name:<24} {:>7} requests  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                latencies.len(),
                percentile(latencies, 0.50),
                percentile(latencies, 0.99),
                percentile(latencies, 1.0)
            );
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
}

fn drive(
    client: usize,
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    queue_id: i64,
    stop: &AtomicBool,
) -> Measurement {
    let mut outcome = Measurement::default();
    let mut request = client;
    while !stop.load(Ordering::Relaxed) {
        request += 1;
        let started = Instant::now();
        let creating = request.is_multiple_of(5);
        let result = if creating {
            post(
                agent,
                &format!("{base}/tickets"),
                token,
                ticket(queue_id, request),
            )
            .map(|_| ())
        } else {
            agent
                .get(&format!("{base}/tickets?limit=50"))
                .set("Authorization", &format!("Bearer {token}"))
                .call()
                .map(|_| ())
                .map_err(anyhow::Error::from)
        };
        let latency = started.elapsed();
        match (result, creating) {
            (Err(_), _) => outcome.errors += 1,
            (Ok(()), true) => outcome.creates.push(latency),
            (Ok(()), false) => outcome.lists.push(latency),
        }
    }
    outcome
}

fn ticket(queue_id: i64, index: usize) -> Value {
    json!({"title": format!("bench ticket {index}"), "priority": (index % 5) as i64, "queue_id": queue_id})
}

fn post(agent: &ureq::Agent, url: &str, token: &str, body: Value) -> Result<Value> {
    let response = agent
        .post(url)
        .set("Authorization", &format!("Bearer {}", token.trim()))
        .send_json(body)
        .with_context(|| format!("POST {url}"))?;
    Ok(response.into_json()?)
}
