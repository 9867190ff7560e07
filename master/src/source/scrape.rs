//! Scrapes one exporter (edge-exporter or a plain node_exporter) within a timeout and
//! builds the node's snapshot from this scrape and the previous one of the same target
//! (for rates). [`super::schedule`] decides when; this module does one scrape.
//!
//! The HTTP client is hyper-util's pooled client, shared by every target: an idle
//! connection per target is kept between scrapes (`pool_max_idle_per_host`), so a
//! scrape every few seconds reuses its connection instead of opening one each time.

use std::time::{Duration, Instant};

use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::targets::Target;
use super::TargetReport;
use crate::model::limits::is_node_name;
use crate::model::NodeMetricsSnapshot;
use crate::own_metrics::ScrapeFailure;
use crate::snapshot::{build_snapshot, reported_node_name, InvalidExposition, Scrape};

/// The most a target's answer may be; a larger one is refused.
const MAX_BODY_BYTES: usize = 32 << 20;
/// Prometheus text 0.0.4, which edge-exporter and node_exporter both serve and the
/// snapshot parser reads: counters keep their types under their `_total` names.
const ACCEPT: &str = "text/plain;version=0.0.4";
/// Idle connections kept per host:port. One per target is enough when every target has
/// its own address; targets sharing one (paths on one server) reuse up to this many.
const MAX_IDLE_PER_HOST: usize = 256;

/// Why one scrape failed. The text goes to the log; the [`ScrapeFailure`] kind to the
/// master's own metrics.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("connecting: {0}")]
    Connect(#[source] hyper_util::client::legacy::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("not an HTTP answer: {0}")]
    Protocol(#[source] hyper_util::client::legacy::Error),
    #[error("not a URL: {0}")]
    Url(#[source] axum::http::Error),
    #[error("HTTP {0}")]
    HttpStatus(StatusCode),
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the answer: {0}")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Parse(#[from] InvalidExposition),
}

impl ScrapeError {
    pub fn failure(&self) -> ScrapeFailure {
        match self {
            ScrapeError::Connect(_) => ScrapeFailure::Connect,
            ScrapeError::Timeout(_) => ScrapeFailure::Timeout,
            ScrapeError::Protocol(_) | ScrapeError::Url(_) => ScrapeFailure::Protocol,
            ScrapeError::HttpStatus(_) => ScrapeFailure::HttpStatus,
            ScrapeError::TooLarge { .. } => ScrapeFailure::TooLarge,
            ScrapeError::Read(_) => ScrapeFailure::Read,
            ScrapeError::Parse(_) => ScrapeFailure::Parse,
        }
    }

    /// A failure of the request, before the body.
    fn of_request(error: hyper_util::client::legacy::Error) -> ScrapeError {
        if error.is_connect() {
            ScrapeError::Connect(error)
        } else {
            ScrapeError::Protocol(error)
        }
    }
}

/// The HTTP client every scrape goes through, with its timeout.
#[derive(Clone)]
pub struct Scraper {
    client: Client<HttpConnector, String>,
    timeout: Duration,
}

impl Scraper {
    /// A client whose idle connections live `idle` (longer than the scrape interval,
    /// so that each target's connection is still there for its next scrape). Must be
    /// created within a Tokio runtime.
    pub fn new(timeout: Duration, idle: Duration) -> Scraper {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .build(connector);
        Scraper { client, timeout }
    }

    /// One scrape of `url`, parsed; all of it within the timeout.
    pub async fn fetch(&self, url: &str) -> Result<Scrape, ScrapeError> {
        match tokio::time::timeout(self.timeout, self.fetch_body(url)).await {
            Ok(body) => Ok(Scrape::parse_for_snapshot(&body?, Utc::now())?),
            Err(_) => Err(ScrapeError::Timeout(self.timeout)),
        }
    }

    async fn fetch_body(&self, url: &str) -> Result<Vec<u8>, ScrapeError> {
        let request = Request::get(url)
            .header(header::ACCEPT, ACCEPT)
            .body(String::new())
            .map_err(ScrapeError::Url)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(ScrapeError::of_request)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ScrapeError::HttpStatus(status));
        }
        // One buffer, sized from Content-Length when the exporter sends one, rather
        // than a list of chunks copied into one at the end.
        let expected = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        if expected > MAX_BODY_BYTES {
            return Err(ScrapeError::TooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let mut body = response.into_body();
        let mut read = Vec::with_capacity(expected);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| ScrapeError::Read(Box::new(error)))?;
            if let Ok(data) = frame.into_data() {
                if read.len() + data.len() > MAX_BODY_BYTES {
                    return Err(ScrapeError::TooLarge {
                        limit: MAX_BODY_BYTES,
                    });
                }
                read.extend_from_slice(&data);
            }
        }
        Ok(read)
    }

    /// Scrapes `target` and builds its snapshot from this scrape and `previous`, which
    /// then holds this scrape's rate counters (or stays as it was when this one failed).
    pub async fn scrape(&self, target: &Target, previous: &mut Option<Scrape>) -> Scraped {
        let started = Instant::now();
        let result = self.fetch(&target.url).await;
        let duration = started.elapsed();
        scraped(target, result, duration, previous)
    }
}

/// What one scrape of a target gave: how it fared, and the snapshot when one was built.
#[derive(Debug)]
pub struct Scraped {
    pub report: TargetReport,
    pub snapshot: Option<NodeMetricsSnapshot>,
}

fn scraped(
    target: &Target,
    result: Result<Scrape, ScrapeError>,
    duration: Duration,
    previous: &mut Option<Scrape>,
) -> Scraped {
    let scrape = match result {
        Ok(scrape) => scrape,
        Err(error) => {
            let failure = error.failure();
            tracing::warn!(url = %target.url, reason = failure.as_str(), %error, "scrape failed");
            return Scraped {
                report: TargetReport {
                    url: target.url.clone(),
                    node: target.name.clone(),
                    duration,
                    samples: 0,
                    dropped_families: [0; 3],
                    failure: Some(failure),
                },
                snapshot: None,
            };
        }
    };
    let node = target.name.clone().or_else(|| reported_node_name(&scrape));
    if !scrape.dropped.is_empty() {
        let families: Vec<String> = scrape
            .dropped
            .iter()
            .map(|d| format!("{} ({}, line {})", d.name, d.reason.as_str(), d.line))
            .collect();
        tracing::warn!(url = %target.url, dropped = scrape.dropped_counts.iter().sum::<usize>(), families = %families.join(", "), "left out metric families that could not be read");
    }
    let (node, snapshot) = match node {
        Some(node) if is_node_name(&node) => {
            let snapshot = build_snapshot(&node, &scrape, previous.as_ref(), Some(&target.url));
            (Some(node), Some(snapshot))
        }
        Some(node) => {
            let shown: String = node.chars().take(64).collect();
            tracing::warn!(url = %target.url, node = %shown.escape_debug(), "target reports a node name that is not one (a DNS name of at most 253 bytes)");
            (None, None)
        }
        None => {
            tracing::warn!(url = %target.url, "target reports no node name (no edge_node_info or node_uname_info) and has none configured");
            (None, None)
        }
    };
    let report = TargetReport {
        url: target.url.clone(),
        node,
        duration,
        samples: scrape.sample_count(),
        dropped_families: scrape.dropped_counts,
        failure: None,
    };
    *previous = Some(scrape.into_rate_counters());
    Scraped { report, snapshot }
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

    fn scraper(timeout: Duration) -> Scraper {
        Scraper::new(timeout, Duration::from_secs(10))
    }

    #[tokio::test]
    async fn asks_for_text_and_keeps_counter_types() {
        let (url, accept) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n\
             # HELP node_cpu_seconds_total Seconds.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n",
            Duration::ZERO,
        );
        let scrape = scraper(Duration::from_secs(5)).fetch(&url).await.unwrap();
        assert_eq!(accept.recv().unwrap(), "text/plain;version=0.0.4");
        assert_eq!(scrape.families.len(), 1);
        assert_eq!(scrape.families[0].name, "node_cpu_seconds_total");
        assert_eq!(scrape.families[0].kind, MetricType::Counter);
    }

    #[tokio::test]
    async fn failures_have_their_kind() {
        async fn kind(response: &'static str, delay: Duration) -> ScrapeFailure {
            let (url, _accept) = serve_once(response, delay);
            scraper(Duration::from_millis(500))
                .fetch(&url)
                .await
                .unwrap_err()
                .failure()
        }
        assert_eq!(
            kind(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                Duration::ZERO
            )
            .await,
            ScrapeFailure::HttpStatus
        );
        assert_eq!(
            kind(
                // A family the snapshot reads: the lines of others are passed over unread.
                "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nnode_load1{ 1\n",
                Duration::ZERO
            )
            .await,
            ScrapeFailure::Parse
        );
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\n\r\n", Duration::from_secs(2)).await,
            ScrapeFailure::Timeout
        );
        assert_eq!(
            kind(
                "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nx",
                Duration::ZERO
            )
            .await,
            ScrapeFailure::TooLarge
        );
        assert_eq!(
            kind("SSH-2.0-OpenSSH\r\n\r\n", Duration::ZERO).await,
            ScrapeFailure::Protocol
        );
        // Nothing listens on a port just released.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", closed.local_addr().unwrap());
        drop(closed);
        let error = scraper(Duration::from_secs(5))
            .fetch(&url)
            .await
            .unwrap_err();
        assert_eq!(error.failure(), ScrapeFailure::Connect, "{error}");
    }

    #[tokio::test]
    async fn the_previous_scrape_keeps_only_rate_counters() {
        let target = Target {
            name: Some("n1".into()),
            url: "http://127.0.0.1:1/metrics".into(),
        };
        let text = crate::snapshot::testdata::EDGE;
        let scrape = Scrape::parse(text.as_bytes(), Utc::now()).unwrap();
        let mut previous = None;
        let done = scraped(&target, Ok(scrape), Duration::ZERO, &mut previous);
        assert_eq!(done.snapshot.unwrap().node_name, "n1");
        assert!(done.report.samples > 1000, "{}", done.report.samples);
        let kept = previous.as_ref().unwrap().sample_count();
        assert!(kept > 0 && kept * 10 < done.report.samples, "{kept}");
        // A failure leaves it as it was.
        let failed = scraped(
            &target,
            Err(ScrapeError::Timeout(Duration::ZERO)),
            Duration::ZERO,
            &mut previous,
        );
        assert_eq!(failed.report.failure, Some(ScrapeFailure::Timeout));
        assert_eq!(previous.unwrap().sample_count(), kept);
    }
}
