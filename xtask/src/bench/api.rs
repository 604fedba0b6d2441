//! `cargo xtask bench api`: the backend (release build) on a scratch database migrated to head,
//! driven from this process over loopback by client threads mixing list (80%) and create (20%)
//! requests for a fixed time. Prints throughput and latency percentiles: the baseline the
//! zero-downtime work measures against.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use xshell::Shell;

use super::writer::percentile;
use crate::{database, project};

pub fn run(seconds: u64, clients: usize, database_url: Option<&str>) -> Result<()> {
    let server = database::server(database_url)?;
    let set = database::load(None)?;
    let scratch = database::migrated_scratch(&server, &set)?;
    let sh = Shell::new()?;
    sh.change_dir(project::root());
    let binary = super::backend::build(&sh)?;
    let admin = super::backend::create_admin(&sh, &binary, scratch.url())?;
    let backend = super::backend::start(&sh, &binary, scratch.url(), "/health/ready")?;
    let base = backend.base.clone();

    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
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

    println!("{clients} clients for {seconds} s against {base}");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|client| {
            let (stop, base, token, agent) =
                (stop.clone(), base.clone(), token.clone(), agent.clone());
            std::thread::spawn(move || drive(client, &agent, &base, &token, queue_id, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut lists = Vec::new();
    let mut creates = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let outcome = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        lists.extend(outcome.lists);
        creates.extend(outcome.creates);
        errors += outcome.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = lists.len() + creates.len();
    println!(
        "{total} requests in {elapsed:.1} s: {:.0} requests/s, {errors} errors",
        total as f64 / elapsed
    );
    for (name, latencies) in [
        ("list (GET /tickets)", &mut lists),
        ("create (POST /tickets)", &mut creates),
    ] {
        latencies.sort();
        println!(
            "{name:<24} {:>7} requests  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            latencies.len(),
            percentile(latencies, 0.50),
            percentile(latencies, 0.99),
            percentile(latencies, 1.0)
        );
    }
    Ok(())
}

#[derive(Default)]
struct Outcome {
    lists: Vec<Duration>,
    creates: Vec<Duration>,
    errors: usize,
}

fn drive(
    client: usize,
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    queue_id: i64,
    stop: &AtomicBool,
) -> Outcome {
    let mut outcome = Outcome::default();
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
