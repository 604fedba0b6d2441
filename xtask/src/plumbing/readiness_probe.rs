//! The backend's readiness probe, asked over HTTP after a deploy: `GET /health/ready` until it
//! answers 2xx or the time is up. ureq is a small blocking client (no async runtime) that also
//! speaks https, which a readiness URL behind a load balancer usually needs.

use std::time::{Duration, Instant};

/// Where to ask: the URL as given when it names a path, else `/health/ready` on that host.
pub fn ready_url(given: &str) -> String {
    let trimmed = given.trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if after_scheme.contains('/') {
        given.to_owned()
    } else {
        format!("{trimmed}/health/ready")
    }
}

/// The URL without any `user:password@`, for messages and reports.
pub fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Polls `url` once a second until it answers 2xx (`Ok` with what it said) or `timeout` passes
/// (`Err` with the last answer or connection error).
pub fn wait_ready(url: &str, timeout: Duration) -> Result<String, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match agent.get(url).call() {
            Ok(response) => {
                let status = response.status();
                return Ok(format!(
                    "{} answered {status} after {attempts} attempt{} in {:.1} s",
                    shown(url),
                    if attempts == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64()
                ));
            }
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                let body: String = body.trim().chars().take(200).collect();
                if body.is_empty() {
                    format!("answered {status}")
                } else {
                    format!("answered {status}: {body}")
                }
            }
            // ureq's message may quote the URL, credentials included.
            Err(ureq::Error::Transport(error)) => {
                format!(
                    "unreachable: {}",
                    error.to_string().replace(url, &shown(url))
                )
            }
        };
        if started.elapsed() + Duration::from_secs(1) > timeout {
            return Err(format!(
                "{} is not ready after {attempts} attempt{} in {:.1} s: last {last}",
                shown(url),
                if attempts == 1 { "" } else { "s" },
                started.elapsed().as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_gets_the_readiness_path() {
        assert_eq!(ready_url("http://app:8080"), "http://app:8080/health/ready");
        assert_eq!(
            ready_url("http://app:8080/"),
            "http://app:8080/health/ready"
        );
        assert_eq!(ready_url("https://app/ready"), "https://app/ready");
        assert_eq!(shown("http://u:secret@app:1/x"), "http://app:1/x");
    }
}
