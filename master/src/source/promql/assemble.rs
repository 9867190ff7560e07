//! From one round's answers to snapshots: the series grouped by the node label, and
//! per node a pair of scrapes made up so that `snapshot::build_snapshot` (the one
//! definition of every derived value) gives back the backend's rates unchanged.
//!
//! The made-up pair: "now" holds every series as the backend has it at the node's
//! newest sample time `t`; "before", at `t − W` (`W` the rate window), holds each
//! rated counter at its value now minus rate × `W`. Their difference over `W` is the
//! backend's `rate()`, whatever the counter's value, and a counter whose total is
//! shown (network and disk bytes) keeps its real total. A counter only rated (CPU
//! seconds, PSI, vmstat) is rate × `W` now and 0 before.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use edge_common::textparse::{Metric, MetricFamily, MetricType, Value};

use super::families::{INSTANT_GROUPS, RATED};
use super::query_api::Vector;
use crate::model::limits::is_node_name;
use crate::model::NodeMetricsSnapshot;
use crate::snapshot::{build_snapshot, reported_node_name, Scrape};

/// Where a node's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeNaming {
    /// The node label's value, a `:port` suffix removed (`10.0.0.5:9100` → `10.0.0.5`;
    /// our manifests' vmagent already sets `instance` to the node name).
    Label,
    /// What the exporter reports, as when scraping: `edge_node_info{node_name}`, else
    /// `node_uname_info{nodename}`.
    Reported,
}

impl NodeNaming {
    pub const NAMES: [&'static str; 2] = ["label", "reported"];

    pub fn parse(text: &str) -> Option<NodeNaming> {
        match text {
            "label" => Some(NodeNaming::Label),
            "reported" => Some(NodeNaming::Reported),
            _ => None,
        }
    }
}

/// One round's answers, as the queries of `families::round_queries` gave them.
#[derive(Debug, Default)]
pub struct Answers {
    /// Per node label value, the Unix time of the newest heartbeat sample.
    pub newest: Vector,
    /// The instant groups' answers (with `__name__`).
    pub instant: Vec<Vector>,
    /// Per rated family, its `rate()` answer.
    pub rates: Vec<(&'static str, Vector)>,
}

/// How the answers become snapshots.
#[derive(Debug, Clone)]
pub struct Assembly {
    pub node_label: String,
    pub naming: NodeNaming,
    pub rate_window: Duration,
    /// A node whose newest sample is older than this at the evaluation time is left
    /// out: it is offline, and its last snapshot stays as it was.
    pub max_age: Duration,
}

/// What a round made, and what it left out (logged, not errors).
#[derive(Debug, Default, PartialEq)]
pub struct Assembled {
    pub snapshots: Vec<NodeMetricsSnapshot>,
    /// Series without the node label.
    pub unlabelled: usize,
    /// Node label values with no heartbeat sample, or whose name is not a node name.
    pub unnamed: Vec<String>,
    /// Nodes whose newest sample is older than `max_age`.
    pub stale: usize,
}

/// One series' labels, sorted by name.
type Labels = Vec<(String, String)>;
/// Series and their values, by family.
type ByFamily = BTreeMap<&'static str, Vec<(Labels, f64)>>;

/// The series of one node, by family.
#[derive(Default)]
struct NodeSeries {
    instant: ByFamily,
    rates: ByFamily,
    newest: Option<f64>,
}

impl Assembly {
    pub fn snapshots(&self, answers: Answers, evaluated_at: DateTime<Utc>) -> Assembled {
        let mut assembled = Assembled::default();
        let mut nodes: BTreeMap<String, NodeSeries> = BTreeMap::new();
        let label = self.node_label.as_str();
        for sample in answers.newest.samples {
            match take_label(sample.labels, label) {
                Some((key, _)) => nodes.entry(key).or_default().newest = Some(sample.value),
                None => assembled.unlabelled += 1,
            }
        }
        for sample in answers.instant.into_iter().flat_map(|v| v.samples) {
            let Some((key, labels)) = take_label(sample.labels, label) else {
                assembled.unlabelled += 1;
                continue;
            };
            let (name, labels) = take_name(labels);
            let Some(family) = name.as_deref().and_then(instant_family) else {
                continue;
            };
            nodes
                .entry(key)
                .or_default()
                .instant
                .entry(family)
                .or_default()
                .push((labels, sample.value));
        }
        for (family, vector) in answers.rates {
            for sample in vector.samples {
                let Some((key, labels)) = take_label(sample.labels, label) else {
                    assembled.unlabelled += 1;
                    continue;
                };
                let (_, labels) = take_name(labels);
                nodes
                    .entry(key)
                    .or_default()
                    .rates
                    .entry(family)
                    .or_default()
                    .push((labels, sample.value));
            }
        }

        let window = self.rate_window.as_secs_f64().max(0.001);
        let max_age = TimeDelta::from_std(self.max_age).unwrap_or(TimeDelta::MAX);
        // By name: two label values may name one node (ports, or what it reports);
        // the newest wins, then the first label value.
        let mut by_name: BTreeMap<String, NodeMetricsSnapshot> = BTreeMap::new();
        for (key, series) in nodes {
            let Some(newest) = series
                .newest
                .filter(|t| t.is_finite())
                .and_then(|t| DateTime::from_timestamp_millis((t * 1000.0).round() as i64))
            else {
                assembled.unnamed.push(key);
                continue;
            };
            if evaluated_at - newest > max_age {
                assembled.stale += 1;
                continue;
            }
            let instance = series
                .instant
                .values()
                .flatten()
                .find_map(|(labels, _)| label_value(labels, "instance"))
                .map(str::to_owned);
            let (now, before) = made_up_scrapes(series, newest, window);
            let name = match self.naming {
                NodeNaming::Label => Some(without_port(&key).to_owned()),
                NodeNaming::Reported => reported_node_name(&now),
            };
            let Some(name) = name.filter(|n| is_node_name(n)) else {
                assembled.unnamed.push(key);
                continue;
            };
            let snapshot = build_snapshot(&name, &now, Some(&before), instance.as_deref());
            match by_name.get(&name) {
                Some(kept) if kept.timestamp >= snapshot.timestamp => {}
                _ => {
                    by_name.insert(name, snapshot);
                }
            }
        }
        assembled.snapshots = by_name.into_values().collect();
        assembled
    }
}

/// The node's "now" scrape at `at` and its "before" scrape `window` seconds earlier.
fn made_up_scrapes(series: NodeSeries, at: DateTime<Utc>, window: f64) -> (Scrape, Scrape) {
    let mut now: ByFamily = series.instant;
    let mut before: ByFamily = BTreeMap::new();
    for (family, rates) in series.rates {
        let current = now.entry(family).or_default();
        let totals: HashMap<Labels, f64> = current.iter().cloned().collect();
        let mut earlier = Vec::with_capacity(rates.len());
        for (labels, rate) in rates {
            if !rate.is_finite() || rate < 0.0 {
                continue;
            }
            let increase = rate * window;
            let value = match totals.get(&labels) {
                Some(total) => *total,
                None => {
                    current.push((labels.clone(), increase));
                    increase
                }
            };
            earlier.push((labels, value - increase));
        }
        before.insert(family, earlier);
    }
    let before_at = at - TimeDelta::milliseconds((window * 1000.0).round() as i64);
    (scrape(now, at), scrape(before, before_at))
}

fn scrape(families: ByFamily, at: DateTime<Utc>) -> Scrape {
    let families = families
        .into_iter()
        .map(|(name, mut series)| {
            // The backend's order is its own; sorted, every replica builds the same.
            series.sort_by(|a, b| a.0.cmp(&b.0));
            MetricFamily {
                name: name.to_owned(),
                help: None,
                kind: if RATED.contains(&name) {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                },
                metrics: series
                    .into_iter()
                    .map(|(labels, value)| Metric {
                        labels,
                        value: Value::Single(value),
                        timestamp: None,
                        line: 0,
                    })
                    .collect(),
            }
        })
        .collect();
    Scrape {
        at,
        families,
        dropped: Vec::new(),
        dropped_counts: [0; 3],
        skipped_samples: 0,
    }
}

/// The value of `label` and the labels without it; `None` without it.
/// The node label stays among the labels: a section may read it (`instance`).
fn take_label(
    labels: Vec<(String, String)>,
    label: &str,
) -> Option<(String, Vec<(String, String)>)> {
    let value = label_value(&labels, label)?.to_owned();
    Some((value, labels))
}

fn take_name(mut labels: Vec<(String, String)>) -> (Option<String>, Vec<(String, String)>) {
    let name = labels
        .iter()
        .position(|(n, _)| n == "__name__")
        .map(|at| labels.remove(at).1);
    (name, labels)
}

fn label_value<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn instant_family(name: &str) -> Option<&'static str> {
    INSTANT_GROUPS
        .iter()
        .flat_map(|(_, families)| families.iter())
        .find(|family| **family == name)
        .copied()
}

/// `host:port` → `host`; anything else as it is.
pub fn without_port(value: &str) -> &str {
    match value.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok() =>
        {
            host
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use edge_common::textparse::Value;

    use super::super::query_api::VectorSample;
    use super::*;
    use crate::snapshot::testdata::{at, scrape, with_value, EDGE};

    /// The labels a backend adds to every series vmagent sent it.
    fn backend_labels(labels: &[(String, String)], name: Option<&str>) -> Vec<(String, String)> {
        let mut labels = labels.to_vec();
        labels.push(("instance".into(), "10.1.2.3:9100".into()));
        labels.push(("job".into(), "edge-exporter".into()));
        if let Some(name) = name {
            labels.push(("__name__".into(), name.into()));
        }
        labels.sort();
        labels
    }

    /// What a backend holding `before` and `now` (`seconds` apart) answers at `now`.
    fn answers(now: &Scrape, before: &Scrape, seconds: f64) -> Answers {
        let value = |m: &Metric| match m.value {
            Value::Single(v) => v,
            _ => f64::NAN,
        };
        let mut answers = Answers {
            newest: Vector {
                samples: vec![VectorSample {
                    labels: vec![("instance".into(), "10.1.2.3:9100".into())],
                    value: now.at.timestamp_millis() as f64 / 1000.0,
                }],
                left_out: 0,
            },
            ..Answers::default()
        };
        let mut instant = Vector::default();
        for family in &now.families {
            if instant_family(&family.name).is_some() {
                for metric in &family.metrics {
                    instant.samples.push(VectorSample {
                        labels: backend_labels(&metric.labels, Some(&family.name)),
                        value: value(metric),
                    });
                }
            }
        }
        answers.instant.push(instant);
        for rated in RATED.iter() {
            let (Some(family), Some(earlier)) = (
                now.families.iter().find(|f| f.name == *rated),
                before.families.iter().find(|f| f.name == *rated),
            ) else {
                continue;
            };
            let mut vector = Vector::default();
            for metric in &family.metrics {
                let Some(then) = earlier.metrics.iter().find(|m| m.labels == metric.labels) else {
                    continue;
                };
                vector.samples.push(VectorSample {
                    labels: backend_labels(&metric.labels, None),
                    value: (value(metric) - value(then)) / seconds,
                });
            }
            answers.rates.push((rated, vector));
        }
        answers
    }

    /// Every number in `a` and `b` agrees to 1e-9 relative; everything else is equal.
    fn assert_same(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
        use serde_json::Value as J;
        match (a, b) {
            (J::Number(x), J::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                    "{path}: {x} vs {y}"
                );
            }
            (J::Object(x), J::Object(y)) => {
                assert_eq!(x.len(), y.len(), "{path}");
                for (key, value) in x {
                    assert_same(value, &y[key], &format!("{path}.{key}"));
                }
            }
            (J::Array(x), J::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{path}");
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    assert_same(x, y, &format!("{path}[{i}]"));
                }
            }
            _ => assert_eq!(a, b, "{path}"),
        }
    }

    fn assembly(naming: NodeNaming) -> Assembly {
        Assembly {
            node_label: "instance".into(),
            naming,
            rate_window: Duration::from_secs(10),
            max_age: Duration::from_secs(15),
        }
    }

    #[test]
    fn the_fixture_gives_the_scraped_snapshot() {
        let before = scrape(EDGE, 0);
        let mut text = EDGE.to_string();
        for (series, value) in [
            (
                r#"node_network_receive_bytes_total{device="eth0"}"#,
                987654321.0 + 1_250_000.0,
            ),
            (r#"node_cpu_seconds_total{cpu="0",mode="user"}"#, 1.0e6),
            (r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#, 2.0e6),
            ("node_vmstat_pgfault", 10339776.0 + 15204.0),
            ("node_pressure_io_waiting_seconds_total", 92.817364 + 12.0),
        ] {
            if text.contains(&format!("{series} ")) {
                text = with_value(&text, series, value);
            }
        }
        let now = scrape(&text, 10);
        let scraped = build_snapshot("fixture-node", &now, Some(&before), Some("10.1.2.3:9100"));
        assert!(scraped.networks.iter().any(|n| n.rx_rate == 125_000.0));
        assert!(scraped.vmstat.pgfault_rate > 0.0);

        let assembled =
            assembly(NodeNaming::Reported).snapshots(answers(&now, &before, 10.0), at(10));
        assert_eq!((assembled.unlabelled, assembled.stale), (0, 0));
        assert!(assembled.unnamed.is_empty());
        assert_eq!(assembled.snapshots.len(), 1);
        assert_same(
            &serde_json::to_value(&assembled.snapshots[0]).unwrap(),
            &serde_json::to_value(&scraped).unwrap(),
            "snapshot",
        );
        // Named by the label: the port goes; the address is the instance's.
        let by_label = assembly(NodeNaming::Label).snapshots(answers(&now, &before, 10.0), at(10));
        assert_eq!(by_label.snapshots[0].node_name, "10.1.2.3");
        assert_eq!(by_label.snapshots[0].node_ip, "10.1.2.3");
    }

    #[test]
    fn stale_unlabelled_and_unnamed_nodes_are_left_out() {
        let now = scrape(EDGE, 0);
        let mut answers = answers(&now, &now, 10.0);
        answers.instant[0].samples.push(VectorSample {
            labels: vec![("__name__".into(), "node_load1".into())],
            value: 1.0,
        });
        let assembled = assembly(NodeNaming::Reported).snapshots(answers, at(16));
        assert_eq!((assembled.unlabelled, assembled.stale), (1, 1));
        assert!(assembled.snapshots.is_empty());

        // No heartbeat: no time to judge it by.
        let mut answers = self::answers(&now, &now, 10.0);
        answers.newest.samples.clear();
        let assembled = assembly(NodeNaming::Label).snapshots(answers, at(0));
        assert_eq!(assembled.unnamed, ["10.1.2.3:9100"]);
    }

    #[test]
    fn ports_are_not_names() {
        assert_eq!(without_port("10.0.0.5:9100"), "10.0.0.5");
        assert_eq!(without_port("edge-1:9100"), "edge-1");
        assert_eq!(without_port("edge-1"), "edge-1");
        assert_eq!(without_port("[::1]:9100"), "[::1]:9100");
        assert_eq!(without_port("edge-1:http"), "edge-1:http");
        assert_eq!(NodeNaming::parse("reported"), Some(NodeNaming::Reported));
        assert_eq!(NodeNaming::parse("uname"), None);
    }
}
