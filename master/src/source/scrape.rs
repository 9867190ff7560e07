//! Scrapes the exporters (edge-exporter or a plain node_exporter) of every target,
//! a bounded number at a time, each within a timeout, and builds each node's
//! snapshot from this scrape and the previous one of the same target (for rates).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::targets::{Target, TargetSet};
use super::{NodeSource, Round, TargetReport};
use crate::model::limits::is_node_name;
use crate::own_metrics::ScrapeFailure;
use crate::snapshot::{build_snapshot, reported_node_name, InvalidExposition, Scrape};

/// The most a target's answer may be; a larger one is refused.
const MAX_BODY_BYTES: u64 = 32 << 20;
/// Prometheus text 0.0.4, which edge-exporter and node_exporter both serve and the
/// snapshot parser reads: counters keep their types under their `_total` names.
const ACCEPT: &str = "text/plain;version=0.0.4";

/// Why one scrape failed. The text goes to the log; the [`ScrapeFailure`] kind to the
/// master's own metrics.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("connecting: {0}")]
    Connect(#[source] ureq::Error),
    #[error("timed out: {0}")]
    Timeout(#[source] ureq::Error),
    #[error("not an HTTP answer: {0}")]
    Protocol(#[source] ureq::Error),
    #[error("HTTP {0}")]
    HttpStatus(ureq::http::StatusCode),
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the answer: {0}")]
    Read(#[source] ureq::Error),
    #[error(transparent)]
    Parse(#[from] InvalidExposition),
}

impl ScrapeError {
    pub fn failure(&self) -> ScrapeFailure {
        match self {
            ScrapeError::Connect(_) => ScrapeFailure::Connect,
            ScrapeError::Timeout(_) => ScrapeFailure::Timeout,
            ScrapeError::Protocol(_) => ScrapeFailure::Protocol,
            ScrapeError::HttpStatus(_) => ScrapeFailure::HttpStatus,
            ScrapeError::TooLarge { .. } => ScrapeFailure::TooLarge,
            ScrapeError::Read(_) => ScrapeFailure::Read,
            ScrapeError::Parse(_) => ScrapeFailure::Parse,
        }
    }

    /// A failure of the request, before the body.
    fn of_request(error: ureq::Error) -> ScrapeError {
        match error {
            ureq::Error::Timeout(_) => ScrapeError::Timeout(error),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Io(_) => {
                ScrapeError::Connect(error)
            }
            _ => ScrapeError::Protocol(error),
        }
    }

    /// A failure while the body was read.
    fn of_body(error: ureq::Error) -> ScrapeError {
        match error {
            ureq::Error::Timeout(_) => ScrapeError::Timeout(error),
            ureq::Error::BodyExceedsLimit(limit) => ScrapeError::TooLarge { limit },
            _ => ScrapeError::Read(error),
        }
    }
}

pub struct ScrapeSource {
    targets: TargetSet,
    agent: ureq::Agent,
    concurrency: usize,
    /// The last good scrape of each target URL, for rates.
    previous: HashMap<String, Scrape>,
}

impl ScrapeSource {
    pub fn new(targets: TargetSet, timeout: Duration, concurrency: usize) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        ScrapeSource {
            targets,
            agent,
            concurrency: concurrency.max(1),
            previous: HashMap::new(),
        }
    }
}

/// What fetching one target gave.
struct Fetched {
    target: Target,
    result: Result<Scrape, ScrapeError>,
    duration: Duration,
}

fn fetch(agent: &ureq::Agent, target: Target) -> Fetched {
    let started = Instant::now();
    let result = scrape(agent, &target.url);
    Fetched {
        target,
        result,
        duration: started.elapsed(),
    }
}

fn scrape(agent: &ureq::Agent, url: &str) -> Result<Scrape, ScrapeError> {
    let mut response = agent
        .get(url)
        .header("Accept", ACCEPT)
        .call()
        .map_err(ScrapeError::of_request)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ScrapeError::HttpStatus(status));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(ScrapeError::of_body)?;
    Ok(Scrape::parse(&body, Utc::now())?)
}

impl NodeSource for ScrapeSource {
    fn collect(&mut self) -> Round {
        let targets = self.targets.current();
        let mut fetched = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(self.concurrency) {
            let agent = &self.agent;
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .cloned()
                    .map(|target| scope.spawn(move || fetch(agent, target)))
                    .collect();
                for handle in handles {
                    if let Ok(result) = handle.join() {
                        fetched.push(result);
                    }
                }
            });
        }
        let mut round = Round::default();
        let mut seen_urls = Vec::new();
        for Fetched {
            target,
            result,
            duration,
        } in fetched
        {
            seen_urls.push(target.url.clone());
            match result {
                Ok(scrape) => {
                    let node = target.name.clone().or_else(|| reported_node_name(&scrape));
                    let samples = scrape.sample_count();
                    if !scrape.dropped.is_empty() {
                        let families: Vec<String> = scrape
                            .dropped
                            .iter()
                            .map(|d| format!("{} ({}, line {})", d.name, d.reason.as_str(), d.line))
                            .collect();
                        tracing::warn!(url = %target.url, dropped = scrape.dropped_counts.iter().sum::<usize>(), families = %families.join(", "), "left out metric families that could not be read");
                    }
                    let node = match node {
                        Some(node) if is_node_name(&node) => {
                            let snapshot = build_snapshot(
                                &node,
                                &scrape,
                                self.previous.get(&target.url),
                                Some(&target.url),
                            );
                            round.snapshots.push(snapshot);
                            Some(node)
                        }
                        Some(node) => {
                            let shown: String = node.chars().take(64).collect();
                            tracing::warn!(url = %target.url, node = %shown.escape_debug(), "target reports a node name that is not one (a DNS name of at most 253 bytes)");
                            None
                        }
                        None => {
                            tracing::warn!(url = %target.url, "target reports no node name (no edge_node_info or node_uname_info) and has none configured");
                            None
                        }
                    };
                    round.targets.push(TargetReport {
                        url: target.url.clone(),
                        node,
                        duration,
                        samples,
                        dropped_families: scrape.dropped_counts,
                        failure: None,
                    });
                    self.previous.insert(target.url, scrape);
                }
                Err(error) => {
                    let failure = error.failure();
                    tracing::warn!(url = %target.url, reason = failure.as_str(), %error, "scrape failed");
                    round.targets.push(TargetReport {
                        url: target.url,
                        node: target.name,
                        duration,
                        samples: 0,
                        dropped_families: [0; 3],
                        failure: Some(failure),
                    });
                }
            }
        }
        // Targets that went away take their previous scrape with them.
        self.previous.retain(|url, _| seen_urls.contains(url));
        round
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use edge_common::textparse::MetricType;

    use super::*;

    /// A one-request HTTP server on loopback that answers `response` (written as is,
    /// after `delay`) and sends back the request's `Accept` header.
    fn serve_once(response: &'static str, delay: Duration) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let (accept_tx, accept_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut accept = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("accept") {
                        accept = value.trim().to_owned();
                    }
                }
            }
            let _ = accept_tx.send(accept);
            std::thread::sleep(delay);
            let _ = reader.get_mut().write_all(response.as_bytes());
        });
        (url, accept_rx)
    }

    fn agent(timeout: Duration) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into()
    }

    #[test]
    fn asks_for_text_and_keeps_counter_types() {
        let (url, accept) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n\
             # HELP node_cpu_seconds_total Seconds.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n",
            Duration::ZERO,
        );
        let scrape = scrape(&agent(Duration::from_secs(5)), &url).unwrap();
        assert_eq!(accept.recv().unwrap(), "text/plain;version=0.0.4");
        assert_eq!(scrape.families.len(), 1);
        assert_eq!(scrape.families[0].name, "node_cpu_seconds_total");
        assert_eq!(scrape.families[0].kind, MetricType::Counter);
    }

    #[test]
    fn failures_have_their_kind() {
        let kind = |response: &'static str, delay: Duration| {
            let (url, _accept) = serve_once(response, delay);
            scrape(&agent(Duration::from_millis(500)), &url)
                .unwrap_err()
                .failure()
        };
        assert_eq!(
            kind(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                Duration::ZERO
            ),
            ScrapeFailure::HttpStatus
        );
        assert_eq!(
            kind(
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nx{ 1\n\n",
                Duration::ZERO
            ),
            ScrapeFailure::Parse
        );
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\n\r\n", Duration::from_secs(2)),
            ScrapeFailure::Timeout
        );
        // Nothing listens on a port just released.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", closed.local_addr().unwrap());
        drop(closed);
        let error = scrape(&agent(Duration::from_secs(5)), &url).unwrap_err();
        assert_eq!(error.failure(), ScrapeFailure::Connect, "{error}");
    }
}
