//! The master's own metrics, served at `/metrics` in Prometheus text 0.0.4: API
//! requests by route and status, each scrape target's last scrape, and store writes.
//! The API records its requests; the scraper records its scrapes and store writes
//! through the same shared `OwnMetrics`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use edge_common::text::{escape_help, escape_label_value, write_value};

/// The Content-Type of [`OwnMetrics::render`].
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Error messages become a label value: keep them to a readable length.
const MAX_ERROR_CHARS: usize = 256;

/// Counters and last values, behind one lock (they change a few times a second at most).
#[derive(Debug, Default)]
pub struct OwnMetrics {
    recorded: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    /// (route template, status code) → requests.
    requests: BTreeMap<(String, u16), u64>,
    targets: BTreeMap<String, TargetScrapes>,
    store_writes: StoreWrites,
}

#[derive(Debug, Default)]
struct TargetScrapes {
    /// The node the target reported (or was configured with); kept across failures.
    node: String,
    up: bool,
    duration_seconds: f64,
    samples: u64,
    /// The last scrape's error; empty when it succeeded.
    last_error: String,
    scrapes: u64,
    failures: u64,
}

#[derive(Debug, Default)]
struct StoreWrites {
    count: u64,
    failures: u64,
    seconds_sum: f64,
}

impl OwnMetrics {
    pub fn new() -> OwnMetrics {
        OwnMetrics::default()
    }

    /// One API request answered. `route` is the route template (`/healthz`,
    /// `/api/v2/node-metrics/{node_name}`), never the raw path, to bound the series.
    pub fn record_request(&self, route: &str, status: u16) {
        let mut recorded = self.lock();
        *recorded
            .requests
            .entry((route.to_owned(), status))
            .or_default() += 1;
    }

    /// A scrape of `target` (the exporter's URL) of `node` that read `samples` samples.
    pub fn record_scrape_success(
        &self,
        target: &str,
        node: Option<&str>,
        duration: Duration,
        samples: usize,
    ) {
        let mut recorded = self.lock();
        let scrapes = recorded.targets.entry(target.to_owned()).or_default();
        if let Some(node) = node {
            node.clone_into(&mut scrapes.node);
        }
        scrapes.up = true;
        scrapes.duration_seconds = duration.as_secs_f64();
        scrapes.samples = u64::try_from(samples).unwrap_or(u64::MAX);
        scrapes.last_error.clear();
        scrapes.scrapes += 1;
    }

    /// A scrape of `target` (of `node`, when known) that failed with `error`.
    pub fn record_scrape_failure(
        &self,
        target: &str,
        node: Option<&str>,
        duration: Duration,
        error: impl Display,
    ) {
        let mut error = error.to_string();
        if let Some((cut, _)) = error.char_indices().nth(MAX_ERROR_CHARS) {
            error.truncate(cut);
            error.push('…');
        }
        let mut recorded = self.lock();
        let scrapes = recorded.targets.entry(target.to_owned()).or_default();
        if let Some(node) = node {
            node.clone_into(&mut scrapes.node);
        }
        scrapes.up = false;
        scrapes.duration_seconds = duration.as_secs_f64();
        scrapes.samples = 0;
        scrapes.last_error = error;
        scrapes.scrapes += 1;
        scrapes.failures += 1;
    }

    /// Stops reporting a target that is no longer scraped.
    pub fn forget_target(&self, target: &str) {
        self.lock().targets.remove(target);
    }

    /// One `write_round` to the store, how long it took and whether it succeeded.
    pub fn record_store_write(&self, duration: Duration, succeeded: bool) {
        let mut recorded = self.lock();
        let writes = &mut recorded.store_writes;
        writes.count += 1;
        writes.seconds_sum += duration.as_secs_f64();
        if !succeeded {
            writes.failures += 1;
        }
    }

    /// Everything recorded, in Prometheus text 0.0.4 ([`TEXT_FORMAT`]).
    pub fn render(&self) -> String {
        let recorded = self.lock();
        let mut out = String::new();

        family(
            &mut out,
            "edge_master_http_requests_total",
            "API requests answered, by route template and status code.",
            "counter",
        );
        for ((route, code), count) in &recorded.requests {
            let code = code.to_string();
            sample(
                &mut out,
                "edge_master_http_requests_total",
                &[("route", route), ("code", &code)],
                *count as f64,
            );
        }

        let targets = &recorded.targets;
        type TargetValue = fn(&TargetScrapes) -> f64;
        let per_target: [(&str, &str, &str, TargetValue); 5] = [
            (
                "edge_master_scrape_up",
                "Whether the target's last scrape succeeded.",
                "gauge",
                |t| if t.up { 1.0 } else { 0.0 },
            ),
            (
                "edge_master_scrape_duration_seconds",
                "How long the target's last scrape took.",
                "gauge",
                |t| t.duration_seconds,
            ),
            (
                "edge_master_scrape_samples",
                "Samples read in the target's last scrape (0 when it failed).",
                "gauge",
                |t| t.samples as f64,
            ),
            (
                "edge_master_scrapes_total",
                "Scrapes of the target.",
                "counter",
                |t| t.scrapes as f64,
            ),
            (
                "edge_master_scrape_failures_total",
                "Failed scrapes of the target.",
                "counter",
                |t| t.failures as f64,
            ),
        ];
        for (name, help, kind, value) in per_target {
            family(&mut out, name, help, kind);
            for (target, scrapes) in targets {
                sample(
                    &mut out,
                    name,
                    &[("node", &scrapes.node), ("target", target)],
                    value(scrapes),
                );
            }
        }
        family(
            &mut out,
            "edge_master_scrape_last_error_info",
            "The error of the target's last scrape, empty when it succeeded.",
            "gauge",
        );
        for (target, scrapes) in targets {
            sample(
                &mut out,
                "edge_master_scrape_last_error_info",
                &[
                    ("node", &scrapes.node),
                    ("target", target),
                    ("error", &scrapes.last_error),
                ],
                1.0,
            );
        }

        let writes = &recorded.store_writes;
        family(
            &mut out,
            "edge_master_store_write_duration_seconds",
            "Time spent writing scrape rounds and pushed snapshots to the store.",
            "summary",
        );
        sample(
            &mut out,
            "edge_master_store_write_duration_seconds_sum",
            &[],
            writes.seconds_sum,
        );
        sample(
            &mut out,
            "edge_master_store_write_duration_seconds_count",
            &[],
            writes.count as f64,
        );
        family(
            &mut out,
            "edge_master_store_write_failures_total",
            "Store writes that failed.",
            "counter",
        );
        sample(
            &mut out,
            "edge_master_store_write_failures_total",
            &[],
            writes.failures as f64,
        );
        out
    }

    /// Counters stay usable after a panic elsewhere: they are plain numbers.
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(help, out);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, label_value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(label_value, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(value, out);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_scrapes_and_writes() {
        let metrics = OwnMetrics::new();
        metrics.record_request("/healthz", 200);
        metrics.record_request("/healthz", 200);
        metrics.record_request("/metrics/node", 401);
        metrics.record_scrape_success(
            "http://a:9100/metrics",
            Some("node-a"),
            Duration::from_millis(250),
            812,
        );
        metrics.record_scrape_failure(
            "http://b:9100/metrics",
            Some("node-b"),
            Duration::from_secs(1),
            "first",
        );
        // A failure that reports no node keeps the one known.
        metrics.record_scrape_failure(
            "http://b:9100/metrics",
            None,
            Duration::from_secs(2),
            "connect: \"refused\"\nretry",
        );
        metrics.record_store_write(Duration::from_millis(500), true);
        metrics.record_store_write(Duration::from_millis(250), false);
        let text = metrics.render();
        for line in [
            "# TYPE edge_master_http_requests_total counter",
            "edge_master_http_requests_total{route=\"/healthz\",code=\"200\"} 2",
            "edge_master_http_requests_total{route=\"/metrics/node\",code=\"401\"} 1",
            "edge_master_scrape_up{node=\"node-a\",target=\"http://a:9100/metrics\"} 1",
            "edge_master_scrape_up{node=\"node-b\",target=\"http://b:9100/metrics\"} 0",
            "edge_master_scrape_duration_seconds{node=\"node-a\",target=\"http://a:9100/metrics\"} 0.25",
            "edge_master_scrape_samples{node=\"node-a\",target=\"http://a:9100/metrics\"} 812",
            "edge_master_scrape_samples{node=\"node-b\",target=\"http://b:9100/metrics\"} 0",
            "edge_master_scrape_failures_total{node=\"node-b\",target=\"http://b:9100/metrics\"} 2",
            "edge_master_scrape_last_error_info{node=\"node-a\",target=\"http://a:9100/metrics\",error=\"\"} 1",
            "edge_master_scrape_last_error_info{node=\"node-b\",target=\"http://b:9100/metrics\",error=\"connect: \\\"refused\\\"\\nretry\"} 1",
            "# TYPE edge_master_store_write_duration_seconds summary",
            "edge_master_store_write_duration_seconds_sum 0.75",
            "edge_master_store_write_duration_seconds_count 2",
            "edge_master_store_write_failures_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every line is a comment or a sample, and the text reads back.
        let parsed = edge_common::textparse::parse(text.as_bytes());
        assert!(parsed.is_ok(), "{parsed:?}");

        metrics.forget_target("http://b:9100/metrics");
        assert!(!metrics.render().contains("http://b:9100"));
    }

    #[test]
    fn long_errors_are_cut() {
        let metrics = OwnMetrics::new();
        metrics.record_scrape_failure("t", None, Duration::ZERO, "é".repeat(1000));
        let text = metrics.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("edge_master_scrape_last_error_info"))
            .unwrap();
        assert_eq!(line.matches('é').count(), MAX_ERROR_CHARS);
    }
}
