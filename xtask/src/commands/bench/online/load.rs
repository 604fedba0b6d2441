//! The load of `bench online`: the generated tickets and users it works on, and the client
//! threads that drive the backend (lists, creates, status changes, registrations), recording
//! every request's start and latency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use migrations::DatabaseUrl;
use serde_json::json;

/// Whatever happens, the load stops after this long.
const LONGEST_LOAD: Duration = Duration::from_secs(3600);

/// One request: when it started (from the load's start) and how long it took.
#[derive(Clone, Copy)]
pub struct Request {
    pub started: Duration,
    pub latency: Duration,
}

/// What every client thread works on.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub token: String,
    pub queue_id: i64,
    /// Tickets in the table: status changes pick one of them.
    pub rows: u64,
    /// Whether a seventh of the lists become registrations of new users.
    pub registrations: bool,
}

/// Client threads driving the backend until stopped.
pub struct Load {
    pub started: Instant,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<(Vec<Request>, usize)>>,
}

impl Load {
    pub fn start(clients: usize, target: &Target) -> Load {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let workers = (0..clients)
            .map(|client| {
                let (stop, target, agent) = (stop.clone(), target.clone(), agent.clone());
                std::thread::spawn(move || drive(client, &agent, &target, started, &stop))
            })
            .collect();
        Load {
            started,
            stop,
            workers,
        }
    }

    /// Stops the clients; returns every answered request and the count of failed ones.
    pub fn stop(self) -> Result<(Vec<Request>, usize)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut requests = Vec::new();
        let mut errors = 0;
        for worker in self.workers {
            let (done, failed) = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
            requests.extend(done);
            errors += failed;
        }
        Ok((requests, errors))
    }
}

/// A customer, a queue, `rows` tickets (mostly open, so status changes have work) and `accounts`
/// more users (every third address capitalized, none equal to another ignoring case), generated
/// by the server. Returns the queue's id.
pub fn fill(url: &DatabaseUrl, rows: u64, accounts: u64) -> Result<i64> {
    let started = Instant::now();
    let mut client = url.connect("bomizzel-bench")?;
    let customer: i64 = client
        .query_one(
            "INSERT INTO users (email, display_name, role)
             VALUES ('customer@bench.example', 'Customer', 'customer') RETURNING id",
            &[],
        )?
        .get(0);
    let queue: i64 = client
        .query_one(
            "INSERT INTO queues (name) VALUES ('bench') RETURNING id",
            &[],
        )?
        .get(0);
    client.execute(
        "INSERT INTO tickets (title, status, priority, requester_id, queue_id, created_at)
         SELECT 'bench ticket ' || g,
                CASE WHEN g % 10 = 0 THEN 'closed' ELSE 'open' END,
                (g % 5)::smallint, $2, $3,
                now() - make_interval(secs => ($1::bigint - g)::float8)
         FROM generate_series(1, $1::bigint) AS g",
        &[&i64::try_from(rows)?, &customer, &queue],
    )?;
    client.execute(
        "INSERT INTO users (email, display_name)
         SELECT CASE WHEN g % 3 = 0 THEN 'User' ELSE 'user' END || g || '@bench.example', 'User ' || g
         FROM generate_series(1, $1::bigint) AS g",
        &[&i64::try_from(accounts)?],
    )?;
    client.batch_execute("VACUUM ANALYZE tickets, users")?;
    println!("  filled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(queue)
}

/// One client: 70% lists of a queue's open tickets, 15% creates, 15% status changes of random
/// tickets (a 409 for one already moved is an answer like any other). With `registrations`, a
/// seventh of the lists become registrations of new users, each address its own in mixed case
/// (so a case-insensitive unique index being built concurrently meets no duplicate).
fn drive(
    client: usize,
    agent: &ureq::Agent,
    target: &Target,
    load_started: Instant,
    stop: &AtomicBool,
) -> (Vec<Request>, usize) {
    let mut done = Vec::new();
    let mut errors = 0;
    let mut state = (client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let Target {
        base,
        token,
        queue_id,
        rows,
        registrations,
    } = target;
    let authorization = format!("Bearer {token}");
    let mut registered = 0u64;
    while !stop.load(Ordering::Relaxed) && load_started.elapsed() < LONGEST_LOAD {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let started = Instant::now();
        let result = match state % 100 {
            0..10 if *registrations => {
                registered += 1;
                let email = if registered.is_multiple_of(2) {
                    format!("Load-{client}-{registered}@Bench.Example")
                } else {
                    format!("load-{client}-{registered}@bench.example")
                };
                agent
                    .post(&format!("{base}/users"))
                    .set("Authorization", &authorization)
                    .send_json(json!({"email": email, "display_name": "Load", "role": "customer"}))
                    .map(|_| ())
            }
            0..70 => agent
                .get(&format!(
                    "{base}/tickets?status=open&queue_id={queue_id}&limit=50"
                ))
                .set("Authorization", &authorization)
                .call()
                .map(|_| ()),
            70..85 => agent
                .post(&format!("{base}/tickets"))
                .set("Authorization", &authorization)
                .send_json(json!({"title": format!("load ticket {state}"), "priority": (state % 5) as i64, "queue_id": queue_id}))
                .map(|_| ()),
            _ => {
                let id = (state >> 8) % rows + 1;
                agent
                    .put(&format!("{base}/tickets/{id}/status"))
                    .set("Authorization", &authorization)
                    .send_json(json!({"status": "in_progress"}))
                    .map(|_| ())
            }
        };
        let latency = started.elapsed();
        match result {
            Ok(()) | Err(ureq::Error::Status(409, _)) => done.push(Request {
                started: started - load_started,
                latency,
            }),
            Err(_) => errors += 1,
        }
    }
    (done, errors)
}
