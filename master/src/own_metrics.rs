//! The master's own metrics, served at `/metrics` by prometheus-client (OpenMetrics
//! text, [`CONTENT_TYPE`]): API requests by route and status, each scrape target's last
//! scrape (with the families it had to drop), and store writes (with whether the store
//! takes them). The API records its requests and pushes, the scraper its
//! scrapes and rounds, into the one shared `OwnMetrics`.
//!
//! Every label has a bounded set of values: routes are templates, a failed scrape is
//! counted by its [`ScrapeFailure`] kind and a dropped family by its [`DropReason`]
//! (the error text and the family's name go to the log only), and a target that is no
//! longer scraped takes its series with it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use edge_common::text::escape_label_value;
use edge_common::textparse::DropReason;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The Content-Type of [`OwnMetrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why a scrape failed, as the `reason` label of `edge_master_scrape_last_error_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeFailure {
    /// No connection: the name did not resolve, or the connection was refused or lost.
    Connect,
    /// No whole answer within `--scrape-timeout`.
    Timeout,
    /// An answer that is not HTTP.
    Protocol,
    /// An HTTP status other than 2xx.
    HttpStatus,
    /// A body over the size limit.
    TooLarge,
    /// The connection failed while the body was read.
    Read,
    /// A body that is not Prometheus text.
    Parse,
}

impl ScrapeFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeFailure::Connect => "connect",
            ScrapeFailure::Timeout => "timeout",
            ScrapeFailure::Protocol => "protocol",
            ScrapeFailure::HttpStatus => "http_status",
            ScrapeFailure::TooLarge => "too_large",
            ScrapeFailure::Read => "read",
            ScrapeFailure::Parse => "parse",
        }
    }
}

/// The `reason` of a target whose last scrape succeeded.
const NO_FAILURE: &str = "none";

/// Store write durations: 1 ms to 16 s, by factors of 4 (an SD card can be slow).
const STORE_WRITE_BUCKETS: (f64, f64, u16) = (0.001, 4.0, 8);

/// A label value from outside (a node name, a target URL), escaped: prometheus-client
/// writes label values as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Escaped(String);

impl EncodeLabelValue for Escaped {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let mut escaped = String::with_capacity(self.0.len());
        escape_label_value(&self.0, &mut escaped);
        encoder.write_str(&escaped)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    node: Escaped,
    target: Escaped,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DropLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LastErrorLabels {
    node: Escaped,
    target: Escaped,
    reason: &'static str,
}

/// A target's series as last written: to move them when its node changes, and to
/// drop them when it goes.
#[derive(Debug)]
struct TargetSeries {
    labels: TargetLabels,
    reason: &'static str,
}

impl TargetSeries {
    fn last_error(&self) -> LastErrorLabels {
        LastErrorLabels {
            node: self.labels.node.clone(),
            target: self.labels.target.clone(),
            reason: self.reason,
        }
    }
}

#[derive(Debug)]
pub struct OwnMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    scrape_up: Family<TargetLabels, Gauge>,
    scrape_duration: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    scrape_samples: Family<TargetLabels, Gauge>,
    scrape_dropped: Family<TargetLabels, Gauge>,
    dropped_families: Family<DropLabels, Counter>,
    scrapes: Family<TargetLabels, Counter>,
    scrape_failures: Family<TargetLabels, Counter>,
    last_error: Family<LastErrorLabels, Gauge>,
    store_write_duration: Histogram,
    store_write_failures: Counter,
    store_writable: Gauge,
    /// By target URL. Its lock also keeps one target's updates together.
    targets: Mutex<HashMap<String, TargetSeries>>,
}

impl Default for OwnMetrics {
    fn default() -> Self {
        OwnMetrics::new()
    }
}

impl OwnMetrics {
    pub fn new() -> OwnMetrics {
        let (start, factor, count) = STORE_WRITE_BUCKETS;
        let mut metrics = OwnMetrics {
            registry: Registry::default(),
            requests: Family::default(),
            scrape_up: Family::default(),
            scrape_duration: Family::default(),
            scrape_samples: Family::default(),
            scrape_dropped: Family::default(),
            dropped_families: Family::default(),
            scrapes: Family::default(),
            scrape_failures: Family::default(),
            last_error: Family::default(),
            store_write_duration: Histogram::new(exponential_buckets(start, factor, count)),
            store_write_failures: Counter::default(),
            store_writable: Gauge::default(),
            targets: Mutex::default(),
        };
        // The registry holds clones: each shares its values with the field it came from.
        let registry = &mut metrics.registry;
        registry.register(
            "edge_master_http_requests",
            "API requests answered, by route template and status code",
            metrics.requests.clone(),
        );
        registry.register(
            "edge_master_scrape_up",
            "Whether the target's last scrape succeeded",
            metrics.scrape_up.clone(),
        );
        registry.register(
            "edge_master_scrape_duration_seconds",
            "How long the target's last scrape took",
            metrics.scrape_duration.clone(),
        );
        registry.register(
            "edge_master_scrape_samples",
            "Samples read in the target's last scrape (0 when it failed)",
            metrics.scrape_samples.clone(),
        );
        registry.register(
            "edge_master_scrape_dropped_families",
            "Metric families the target's last scrape served but could not be read (declared twice, a type conflict, a repeated series): left out, the rest kept",
            metrics.scrape_dropped.clone(),
        );
        registry.register(
            "edge_master_dropped_families",
            "Metric families left out of scrapes, by reason",
            metrics.dropped_families.clone(),
        );
        registry.register(
            "edge_master_scrapes",
            "Scrapes of the target",
            metrics.scrapes.clone(),
        );
        registry.register(
            "edge_master_scrape_failures",
            "Failed scrapes of the target",
            metrics.scrape_failures.clone(),
        );
        registry.register(
            "edge_master_scrape_last_error_info",
            "Why the target's last scrape failed (reason), or none when it succeeded",
            metrics.last_error.clone(),
        );
        registry.register(
            "edge_master_store_write_duration_seconds",
            "Time spent writing scrape rounds and pushed snapshots to the store",
            metrics.store_write_duration.clone(),
        );
        registry.register(
            "edge_master_store_write_failures",
            "Store writes that failed",
            metrics.store_write_failures.clone(),
        );
        registry.register(
            "edge_master_store_writable",
            "Whether the last store write or readiness probe succeeded (0: the store is failing writes)",
            metrics.store_writable.clone(),
        );
        // Writable until a write says otherwise.
        metrics.store_writable.set(1);
        for reason in DropReason::ALL {
            // Every reason is present from the start, at 0.
            drop(metrics.dropped_families.get_or_create(&DropLabels {
                reason: reason.as_str(),
            }));
        }
        metrics
    }

    /// One API request answered. `route` is the route template (`/healthz`,
    /// `/api/v2/node-metrics/{node_name}`), never the raw path, to bound the series.
    pub fn record_request(&self, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                code: status,
            })
            .inc();
    }

    /// A scrape of `target` (the exporter's URL) of `node` that read `samples` samples
    /// and dropped `dropped` families (by reason, in [`DropReason::ALL`]'s order).
    pub fn record_scrape_success(
        &self,
        target: &str,
        node: Option<&str>,
        duration: Duration,
        samples: usize,
        dropped: [usize; 3],
    ) {
        for (reason, count) in DropReason::ALL.iter().zip(dropped) {
            self.dropped_families
                .get_or_create(&DropLabels {
                    reason: reason.as_str(),
                })
                .inc_by(count as u64);
        }
        self.record_scrape(target, node, duration, Ok((samples, dropped.iter().sum())));
    }

    /// A scrape of `target` (of `node`, when known) that failed.
    pub fn record_scrape_failure(
        &self,
        target: &str,
        node: Option<&str>,
        duration: Duration,
        failure: ScrapeFailure,
    ) {
        self.record_scrape(target, node, duration, Err(failure));
    }

    fn record_scrape(
        &self,
        target: &str,
        node: Option<&str>,
        duration: Duration,
        outcome: Result<(usize, usize), ScrapeFailure>,
    ) {
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = targets.remove(target);
        // A failure that reports no node keeps the one known.
        let node = node
            .map(str::to_owned)
            .or_else(|| previous.as_ref().map(|p| p.labels.node.0.clone()))
            .unwrap_or_default();
        let labels = TargetLabels {
            node: Escaped(node),
            target: Escaped(target.to_owned()),
        };
        if let Some(previous) = &previous {
            self.last_error.remove(&previous.last_error());
            if previous.labels != labels {
                self.relabel(&previous.labels, &labels);
            }
        }
        let series = TargetSeries {
            labels,
            reason: outcome.err().map_or(NO_FAILURE, ScrapeFailure::as_str),
        };
        let labels = &series.labels;
        self.scrape_up
            .get_or_create(labels)
            .set(i64::from(outcome.is_ok()));
        self.scrape_duration
            .get_or_create(labels)
            .set(duration.as_secs_f64());
        self.scrape_samples
            .get_or_create(labels)
            .set(outcome.map_or(0, |(samples, _)| i64::try_from(samples).unwrap_or(i64::MAX)));
        self.scrape_dropped
            .get_or_create(labels)
            .set(outcome.map_or(0, |(_, dropped)| i64::try_from(dropped).unwrap_or(i64::MAX)));
        self.scrapes.get_or_create(labels).inc();
        // Created at 0 by a success, so that every target has the series.
        let failures = self.scrape_failures.get_or_create(labels);
        if outcome.is_err() {
            failures.inc();
        }
        drop(failures);
        self.last_error.get_or_create(&series.last_error()).set(1);
        targets.insert(target.to_owned(), series);
    }

    /// Moves a target's counters to its new labels (its node changed); its gauges are
    /// written anew by the caller.
    fn relabel(&self, from: &TargetLabels, to: &TargetLabels) {
        self.scrape_up.remove(from);
        self.scrape_duration.remove(from);
        self.scrape_samples.remove(from);
        self.scrape_dropped.remove(from);
        for counter in [&self.scrapes, &self.scrape_failures] {
            let count = counter.get(from).map_or(0, |c| c.get());
            counter.remove(from);
            counter.get_or_create(to).inc_by(count);
        }
    }

    /// Stops reporting a target that is no longer scraped.
    pub fn forget_target(&self, target: &str) {
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = targets.remove(target) {
            let labels = &series.labels;
            self.scrape_up.remove(labels);
            self.scrape_duration.remove(labels);
            self.scrape_samples.remove(labels);
            self.scrape_dropped.remove(labels);
            self.scrapes.remove(labels);
            self.scrape_failures.remove(labels);
            self.last_error.remove(&series.last_error());
        }
    }

    /// One write to the store (a round, a push), how long it took and whether it
    /// succeeded.
    pub fn record_store_write(&self, duration: Duration, succeeded: bool) {
        self.store_write_duration.observe(duration.as_secs_f64());
        if !succeeded {
            self.store_write_failures.inc();
        }
        self.record_store_writable(succeeded);
    }

    /// Whether the store took the last write or readiness probe.
    pub fn record_store_writable(&self, writable: bool) {
        self.store_writable.set(i64::from(writable));
    }

    /// Everything recorded, in OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String fails only if an encoder does, and none of ours can.
            tracing::error!(%error, "encoding the master's own metrics failed");
        }
        out
    }
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
            [1, 0, 2],
        );
        metrics.record_scrape_failure(
            "http://b:9100/metrics",
            Some("node-b"),
            Duration::from_secs(1),
            ScrapeFailure::Timeout,
        );
        // A failure that reports no node keeps the one known.
        metrics.record_scrape_failure(
            "http://b:9100/metrics",
            None,
            Duration::from_secs(2),
            ScrapeFailure::Connect,
        );
        metrics.record_store_write(Duration::from_millis(500), true);
        metrics.record_store_write(Duration::from_millis(250), false);
        let text = metrics.render();
        for line in [
            "# TYPE edge_master_http_requests counter",
            "edge_master_http_requests_total{route=\"/healthz\",code=\"200\"} 2",
            "edge_master_http_requests_total{route=\"/metrics/node\",code=\"401\"} 1",
            "edge_master_scrape_up{node=\"node-a\",target=\"http://a:9100/metrics\"} 1",
            "edge_master_scrape_up{node=\"node-b\",target=\"http://b:9100/metrics\"} 0",
            "edge_master_scrape_duration_seconds{node=\"node-a\",target=\"http://a:9100/metrics\"} 0.25",
            "edge_master_scrape_samples{node=\"node-a\",target=\"http://a:9100/metrics\"} 812",
            "edge_master_scrape_samples{node=\"node-b\",target=\"http://b:9100/metrics\"} 0",
            "edge_master_scrape_failures_total{node=\"node-b\",target=\"http://b:9100/metrics\"} 2",
            "edge_master_scrape_last_error_info{node=\"node-a\",target=\"http://a:9100/metrics\",reason=\"none\"} 1",
            "edge_master_scrape_last_error_info{node=\"node-b\",target=\"http://b:9100/metrics\",reason=\"connect\"} 1",
            "# TYPE edge_master_store_write_duration_seconds histogram",
            "edge_master_store_write_duration_seconds_sum 0.75",
            "edge_master_store_write_duration_seconds_count 2",
            "edge_master_store_write_failures_total 1",
            "edge_master_store_writable 0",
            "edge_master_scrape_dropped_families{node=\"node-a\",target=\"http://a:9100/metrics\"} 3",
            "edge_master_scrape_dropped_families{node=\"node-b\",target=\"http://b:9100/metrics\"} 0",
            "edge_master_dropped_families_total{reason=\"declared_twice\"} 1",
            "edge_master_dropped_families_total{reason=\"type_conflict\"} 0",
            "edge_master_dropped_families_total{reason=\"repeated_series\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // The reason of the earlier failure is gone: one series per target.
        assert!(!text.contains("reason=\"timeout\""), "{text}");
        // Every line is a comment or a sample, and the text reads back.
        let parsed = edge_common::textparse::parse(text.as_bytes());
        assert!(parsed.is_ok(), "{parsed:?}");

        metrics.forget_target("http://b:9100/metrics");
        assert!(!metrics.render().contains("http://b:9100"));
    }

    #[test]
    fn reasons_are_a_fixed_set_and_outside_values_are_escaped() {
        let metrics = OwnMetrics::new();
        let node = "odd \"node\"\\\nname";
        metrics.record_scrape_failure("t", Some(node), Duration::ZERO, ScrapeFailure::Parse);
        let text = metrics.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("edge_master_scrape_last_error_info"))
            .unwrap();
        assert_eq!(
            line,
            r#"edge_master_scrape_last_error_info{node="odd \"node\"\\\nname",target="t",reason="parse"} 1"#
        );
        let parsed = edge_common::textparse::parse(text.as_bytes()).unwrap();
        let family = parsed
            .iter()
            .find(|f| f.name == "edge_master_scrape_last_error_info")
            .unwrap();
        assert!(family.metrics[0]
            .labels
            .contains(&("node".into(), node.into())));
    }

    #[test]
    fn a_target_whose_node_changes_keeps_its_counts() {
        let metrics = OwnMetrics::new();
        let target = "http://c:9100/metrics";
        metrics.record_scrape_failure(target, None, Duration::ZERO, ScrapeFailure::Connect);
        metrics.record_scrape_success(target, Some("node-c"), Duration::ZERO, 5, [0; 3]);
        let text = metrics.render();
        assert!(
            text.lines().any(|l| l
                == "edge_master_scrapes_total{node=\"node-c\",target=\"http://c:9100/metrics\"} 2"),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l
                == "edge_master_scrape_failures_total{node=\"node-c\",target=\"http://c:9100/metrics\"} 1"),
            "{text}"
        );
        assert!(!text.contains("node=\"\""), "{text}");
    }
}
