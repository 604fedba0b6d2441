//! Random requests to every endpoint: no 5xx, no panic, every refusal in the documented shape.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};

use super::{people, service_panics, Service};

/// A seeded xorshift generator: the same seed sends the same requests again.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, most: usize) -> Vec<u8> {
        let length = self.below(most + 1);
        (0..length).map(|_| self.next() as u8).collect()
    }

    /// Text that stresses a parser: NULs, controls, quotes, multi-byte characters, cursor shapes.
    fn text(&mut self) -> String {
        let pieces = [
            "\u{0}",
            "a",
            "Z",
            "é",
            "😀",
            "\n",
            "\"",
            "\\",
            ".",
            "-",
            "9",
            "170141183460469231731687303715884106",
            "%",
            "&",
            "=",
            " ",
            "'",
            ";",
            "admin",
            "open",
            "closed",
            "customer",
            "\u{7f}",
            "\u{fffd}",
        ];
        // Now and then long enough for the field limits and, in bodies, the body limit.
        let length = match self.below(50) {
            0 => 20 + self.below(12_000),
            _ => self.below(12),
        };
        (0..length).map(|_| *self.pick(&pieces)).collect()
    }

    fn number(&mut self) -> Value {
        match self.below(6) {
            0 => json!(i64::MAX),
            1 => json!(i64::MIN),
            2 => json!(self.below(10) as i64 - 2),
            3 => json!(self.next() as f64 / 7.0),
            4 => json!(u64::MAX),
            _ => json!(self.next() as i64),
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => self.number(),
            3 | 4 => json!(self.text()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => self.object(depth + 1),
        }
    }

    /// An object with the API's field names (so it often nearly fits a handler) and random values.
    fn object(&mut self, depth: usize) -> Value {
        const FIELDS: [&str; 14] = [
            "title",
            "description",
            "priority",
            "queue_id",
            "body",
            "internal",
            "status",
            "assignee_id",
            "email",
            "display_name",
            "role",
            "name",
            "user_id",
            "x",
        ];
        let mut object = serde_json::Map::new();
        for _ in 0..self.below(7) {
            let field = *self.pick(&FIELDS);
            object.insert(field.to_owned(), self.value(depth));
        }
        Value::Object(object)
    }

    fn query(&mut self) -> String {
        const KEYS: [&str; 7] = [
            "status",
            "queue_id",
            "assignee_id",
            "limit",
            "after",
            "x",
            "",
        ];
        let mut query = String::new();
        for index in 0..self.below(5) {
            if index > 0 {
                query.push('&');
            }
            query.push_str(KEYS[self.below(KEYS.len())]);
            query.push('=');
            let value = match self.below(4) {
                0 => self.number().to_string(),
                1 => format!("{}.{}.{}", self.number(), self.number(), self.number()),
                _ => self.text(),
            };
            for byte in value.bytes() {
                query.push_str(&format!("%{byte:02X}"));
            }
        }
        query
    }
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closes it.
struct Client {
    address: SocketAddr,
    stream: Option<std::io::BufReader<TcpStream>>,
}

impl Client {
    /// Sends one request; the status and body, or `None` when a new connection ended without
    /// one. A reused connection the server closed meanwhile (after a body the handler did not
    /// read, say) is retried on a new one, as HTTP clients do.
    fn send(&mut self, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        let reused = self.stream.is_some();
        self.exchange(head, body)
            .or_else(|| reused.then(|| self.exchange(head, body)).flatten())
    }

    fn exchange(&mut self, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        use std::io::BufRead;
        let reader = self.stream.get_or_insert_with(|| {
            let stream = TcpStream::connect(self.address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            std::io::BufReader::new(stream)
        });
        let mut request = head.as_bytes().to_vec();
        request.extend_from_slice(body);
        let answer = (|| {
            reader.get_mut().write_all(&request).ok()?;
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
            let (mut length, mut close) = (0, false);
            loop {
                line.clear();
                reader.read_line(&mut line).ok()?;
                let header = line.trim_end().to_ascii_lowercase();
                if header.is_empty() {
                    break;
                }
                if let Some(value) = header.strip_prefix("content-length:") {
                    length = value.trim().parse().ok()?;
                }
                close |= header == "connection: close";
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok()?;
            Some((status, body, close))
        })();
        match answer {
            Some((status, body, close)) => {
                if close {
                    self.stream = None;
                }
                Some((status, body))
            }
            None => {
                self.stream = None;
                None
            }
        }
    }
}

/// Random bytes, random JSON and random query strings to every endpoint with valid and invalid
/// tokens: no 5xx, no panic, every refusal in the documented shape. `BOMIZZEL_FUZZ_REQUESTS`
/// (default 10,000) requests per endpoint, `BOMIZZEL_FUZZ_SEED` to replay a run.
#[test]
fn random_requests_never_get_a_5xx_nor_a_panic() {
    let (per_endpoint, seed) = fuzz_settings();
    let service = Service::start(None);
    let (admin, agent, alice, bob, queue_id, agent_id) = people(&service);
    let (_, ticket) = service.call(
        "POST",
        "/tickets",
        Some(&alice),
        Some(json!({"title": "fuzzed", "queue_id": queue_id})),
    );
    let ticket_id = ticket["id"].as_i64().unwrap();
    let tokens: Vec<Option<String>> = vec![
        Some(format!("Bearer {admin}")),
        Some(format!("bearer {agent}")),
        Some(format!("Bearer {alice}")),
        Some(format!("BEARER {bob}")),
        Some("Bearer bmz_0000".into()),
        Some("Basic YWRtaW46YWRtaW4=".into()),
        Some("Bearer".into()),
        None,
    ];
    let ids = [
        queue_id.to_string(),
        ticket_id.to_string(),
        agent_id.to_string(),
        "-1".into(),
        "0".into(),
        "99999999999999999999".into(),
        "abc".into(),
        "%00".into(),
    ];
    let mut random = Random(seed);
    let mut client = Client {
        address: service.address,
        stream: None,
    };
    let started = std::time::Instant::now();
    for (method, route) in ENDPOINTS {
        let endpoint_started = std::time::Instant::now();
        for _ in 0..per_endpoint {
            let (path, head, body) = random_request(&mut random, (method, route), &ids, &tokens);
            let replay = format!("{method} {path} (seed {seed})");
            no_5xx_and_every_refusal_in_json(&mut client, &head, &body, &replay);
        }
        println!(
            "{method} {route}: {:.1} s",
            endpoint_started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{} requests ({per_endpoint} per endpoint) in {:.1} s",
        per_endpoint * ENDPOINTS.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(service_panics(), 0, "no panic on the service's threads");
}

/// Every route; `{id}` takes one of the ids the test draws from.
const ENDPOINTS: [(&str, &str); 14] = [
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("POST", "/users"),
    ("GET", "/users/me"),
    ("POST", "/queues"),
    ("GET", "/queues"),
    ("POST", "/queues/{id}/agents"),
    ("POST", "/tickets"),
    ("GET", "/tickets"),
    ("GET", "/tickets/{id}"),
    ("PUT", "/tickets/{id}/status"),
    ("PUT", "/tickets/{id}/assignee"),
    ("POST", "/tickets/{id}/comments"),
    ("GET", "/tickets/{id}/comments"),
];

/// Requests per endpoint and the seed: `BOMIZZEL_FUZZ_REQUESTS`, `BOMIZZEL_FUZZ_SEED`, or defaults.
fn fuzz_settings() -> (usize, u64) {
    let per_endpoint: usize = std::env::var("BOMIZZEL_FUZZ_REQUESTS")
        .map(|text| text.parse().expect("BOMIZZEL_FUZZ_REQUESTS is a count"))
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("BOMIZZEL_FUZZ_SEED")
        .map(|text| text.parse().expect("BOMIZZEL_FUZZ_SEED is a number"))
        .unwrap_or(0x5eed_b0a1);
    (per_endpoint, seed)
}

/// A request to `route` with a random id, query, body, content type and token: (path, head, body).
fn random_request(
    random: &mut Random,
    (method, route): (&str, &str),
    ids: &[String],
    tokens: &[Option<String>],
) -> (String, String, Vec<u8>) {
    let mut path = route.replace("{id}", random.pick(ids).as_str());
    if random.below(3) == 0 {
        path = format!("{path}?{}", random.query());
    }
    let body = match random.below(4) {
        0 => random.bytes(200),
        1 => Vec::new(),
        _ => random.object(0).to_string().into_bytes(),
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: fuzz\r\ncontent-length: {}\r\n",
        body.len()
    );
    if random.below(8) != 0 {
        head.push_str("content-type: application/json\r\n");
    }
    if let Some(token) = random.pick(tokens) {
        head.push_str(&format!("authorization: {token}\r\n"));
    }
    head.push_str("\r\n");
    (path, head, body)
}

/// Sends one request: the answer is below 500, and a refusal has the documented JSON body.
fn no_5xx_and_every_refusal_in_json(client: &mut Client, head: &str, body: &[u8], replay: &str) {
    let (status, answer) = client
        .send(head, body)
        .unwrap_or_else(|| panic!("{replay}: the connection ended without an answer"));
    assert!(
        status < 500,
        "{replay}: {status} {}",
        String::from_utf8_lossy(&answer)
    );
    if status >= 400 {
        let refusal: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|error| panic!("{replay}: {status} without a JSON body ({error})"));
        assert!(
            refusal["error"]["code"].is_string() && refusal["error"]["message"].is_string(),
            "{replay}: {refusal}"
        );
    }
}
