//! `/history` from the backend (`--source.history=backend`, the default in PromQL
//! mode): a [`NodeStore`] that answers [`NodeStore::history`] from `query_range` and
//! hands every other call to the local store (latest snapshots, the observe series,
//! other clusters' pushed nodes).
//!
//! A request is a fixed set of range queries, each filtered to the node's label
//! value(s) ([`history_queries`]): the newest heartbeat's time, one query for the
//! gauge families a history point reads, and one `rate()` per counter it reads. The
//! step is the one the window is shown at (60 s up to 6 hours, 300 s up to 24, 900 s
//! beyond). At every step the answers are one round's answers for one node, and the
//! point is made by the round's own code ([`Assembly`], then `store::history_point`),
//! so each value (CPU share, the primary disk and interface, the hottest sensor) is
//! derived exactly as in the latest snapshot and the SQLite sampler.
//!
//! Points are at the step times. A step whose newest heartbeat is older than
//! `--offline-after` has no point (the node was offline), although the backend's
//! lookback would still answer its last samples.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::assemble::{Answers, Assembly, NodeNaming};
use super::families::{counter_selector, promql_duration, HIDDEN_INTERFACES, INSTANT_GROUPS};
use super::query_api::{Matrix, QueryApi, QueryError, Vector, VectorSample};
use crate::api::{bucket_seconds, LatestSnapshot, LatestView, NodeStore, SharedStore};
use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use crate::store::history_point;
use crate::store::series::SeriesColumn;
use crate::store::{PushRules, StoreError};

/// The instant groups a history point reads (none with a filter after its selector) (of [`INSTANT_GROUPS`]): load, memory,
/// the primary disk's usage, the interfaces' state, the sensors; `host` also holds
/// the names a node reports.
pub const HISTORY_GROUPS: &[&str] = &[
    "host",
    "host_info",
    "memory",
    "disk_info",
    "disks",
    "network_info",
    "networks",
    "sensor_info",
    "temperature",
];
/// The counters whose rate a history point reads: CPU shares, the primary disk's I/O
/// and the primary interface's traffic.
pub const HISTORY_RATED: &[&str] = &[
    "node_cpu_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
];
/// The most steps one request asks for (Prometheus refuses more than 11,000).
pub const MAX_STEPS: i64 = 10_000;

/// One range query of a history request and what its answer is.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryQuery {
    /// Per node label value, the time of its newest heartbeat sample.
    Newest(String),
    /// The gauge families, with `__name__`.
    Instant(String),
    /// One counter's rate.
    Rate { family: &'static str, expr: String },
}

impl HistoryQuery {
    pub fn expr(&self) -> &str {
        match self {
            HistoryQuery::Newest(expr)
            | HistoryQuery::Instant(expr)
            | HistoryQuery::Rate { expr, .. } => expr,
        }
    }
}

/// The range queries of one node's history: `matcher` selects the node's series
/// (`instance=~"…"`), `window` is the rate window.
pub fn history_queries(node_label: &str, matcher: &str, window: Duration) -> Vec<HistoryQuery> {
    let window = promql_duration(window);
    let newest = super::families::HEARTBEAT
        .iter()
        .map(|family| format!("timestamp({family}{{{matcher}}})"))
        .collect::<Vec<_>>()
        .join(" or ");
    // One selector: `or` would join the groups' queries by their labels without the
    // name, keeping one family of each label set. The interfaces' matcher holds for
    // series without a `device` label (an empty value does not match), and no disk
    // device is named like a hidden interface.
    let families: Vec<&str> = INSTANT_GROUPS
        .iter()
        .filter(|(group, _)| HISTORY_GROUPS.contains(group))
        .flat_map(|(_, families)| families.iter().copied())
        .collect();
    let instant = format!(
        "{{__name__=~\"{}\",{},{matcher}}}",
        families.join("|"),
        HIDDEN_INTERFACES.as_str()
    );
    let mut queries = vec![
        HistoryQuery::Newest(format!("max by ({node_label}) ({newest})")),
        HistoryQuery::Instant(instant),
    ];
    queries.extend(HISTORY_RATED.iter().map(|family| HistoryQuery::Rate {
        family,
        expr: format!(
            "rate({}[{window}])",
            counter_selector(family, Some(matcher))
        ),
    }));
    queries
}

/// `label=~"v1|v2"` for label values (regex metacharacters escaped, then the string
/// escaped for PromQL). With `ports`, each value may carry a `:port` suffix.
pub fn label_matcher(label: &str, values: &[&str], ports: bool) -> String {
    let suffix = if ports { "(:[0-9]+)?" } else { "" };
    let alternatives: Vec<String> = values
        .iter()
        .map(|value| {
            let mut regex = String::new();
            for c in value.chars() {
                if "\\.+*?()|[]{}^$".contains(c) {
                    regex.push('\\');
                }
                regex.push(c);
            }
            format!("{regex}{suffix}")
        })
        .collect();
    let regex = alternatives.join("|");
    let quoted = regex.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{label}=~\"{quoted}\"")
}

/// The step a window is shown at: the API's buckets (60 s up to 6 hours, 300 s up to
/// 24, 900 s beyond, as `api::history_shape`), widened when the window would need more
/// than [`MAX_STEPS`].
pub fn step_for(span: TimeDelta) -> i64 {
    let seconds = span.num_seconds().max(0);
    let hours = u32::try_from((seconds + 3599) / 3600).unwrap_or(u32::MAX);
    bucket_seconds(hours).max((seconds + MAX_STEPS - 1) / MAX_STEPS)
}

/// A series' labels and its value at each step (`None`: no point there).
type AtSteps = (Vec<(String, String)>, Vec<Option<f64>>);

/// A node's history points from the matrices of [`history_queries`] (in that order),
/// one per step from `start` every `step` seconds where the node was online.
pub fn points(
    assembly: &Assembly,
    node: &str,
    matrices: Vec<(HistoryQuery, Matrix)>,
    start: DateTime<Utc>,
    step: i64,
    steps: usize,
) -> Vec<MetricsDataPoint> {
    let step_ms = step * 1000;
    let start_ms = start.timestamp_millis();
    // Each series' points by step; a point off the steps (it should not be) is dropped.
    let at_steps = |matrix: Matrix| -> Vec<AtSteps> {
        matrix
            .series
            .into_iter()
            .map(|series| {
                let mut values = vec![None; steps];
                for (ms, value) in series.points {
                    let offset = ms - start_ms;
                    if offset >= 0 && offset % step_ms == 0 {
                        if let Some(slot) = values.get_mut((offset / step_ms) as usize) {
                            *slot = Some(value);
                        }
                    }
                }
                (series.labels, values)
            })
            .collect()
    };
    let mut newest = Vec::new();
    let mut instant = Vec::new();
    let mut rates = Vec::new();
    for (query, matrix) in matrices {
        match query {
            HistoryQuery::Newest(_) => newest = at_steps(matrix),
            HistoryQuery::Instant(_) => instant = at_steps(matrix),
            HistoryQuery::Rate { family, .. } => rates.push((family, at_steps(matrix))),
        }
    }
    let vector = |series: &[AtSteps], k: usize| Vector {
        samples: series
            .iter()
            .filter_map(|(labels, values)| {
                Some(VectorSample {
                    labels: labels.clone(),
                    value: values[k]?,
                })
            })
            .collect(),
        left_out: 0,
    };
    let mut points = Vec::new();
    for k in 0..steps {
        let Some(time) = DateTime::from_timestamp_millis(start_ms + k as i64 * step_ms) else {
            continue;
        };
        let answers = Answers {
            newest: vector(&newest, k),
            instant: vec![vector(&instant, k)],
            rates: rates
                .iter()
                .map(|(family, series)| (*family, vector(series, k)))
                .collect(),
        };
        if answers.newest.samples.is_empty() {
            continue;
        }
        let assembled = assembly.snapshots(answers, time);
        if let Some(snapshot) = assembled.snapshots.iter().find(|s| s.node_name == node) {
            let mut point = history_point(snapshot);
            point.timestamp = time;
            points.push(point);
        }
    }
    points
}

/// The local store, with history from the backend for the cluster it reads.
pub struct BackendHistory {
    local: SharedStore,
    api: QueryApi,
    /// The cluster the PromQL source writes (`--cluster-id`).
    cluster: String,
    assembly: Assembly,
}

impl BackendHistory {
    /// `assembly` as the rounds use it (node label, naming, rate window, offline age).
    pub fn new(
        local: SharedStore,
        api: QueryApi,
        cluster: String,
        assembly: Assembly,
    ) -> BackendHistory {
        BackendHistory {
            local,
            api,
            cluster,
            assembly,
        }
    }

    /// The matcher for `node`'s series: by its name as the label's value (a port
    /// allowed), or the label values whose series report it as their name.
    fn node_matcher(
        &self,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<String>, QueryError> {
        let label = self.assembly.node_label.as_str();
        match self.assembly.naming {
            NodeNaming::Label => Ok(Some(label_matcher(label, &[node], true))),
            NodeNaming::Reported => {
                let window = promql_duration(
                    (to - from).to_std().unwrap_or_default() + self.assembly.max_age,
                );
                let expr = format!(
                    "group by ({label}) (last_over_time(edge_node_info{{{}}}[{window}])) \
                     or group by ({label}) (last_over_time(node_uname_info{{{}}}[{window}]))",
                    label_matcher("node_name", &[node], false),
                    label_matcher("nodename", &[node], false),
                );
                let found = self.api.instant(&expr, to)?;
                let values: Vec<&str> = found
                    .samples
                    .iter()
                    .filter_map(|s| s.labels.iter().find(|(n, _)| n == label))
                    .map(|(_, v)| v.as_str())
                    .collect();
                Ok((!values.is_empty()).then(|| label_matcher(label, &values, false)))
            }
        }
    }

    /// The node's points from `from` to `to`, from the backend.
    pub fn backend_history(
        &self,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, QueryError> {
        let step = step_for(to - from);
        let start_seconds = from.timestamp().div_euclid(step) * step
            + if from.timestamp().rem_euclid(step) == 0 {
                0
            } else {
                step
            };
        let (Some(start), true) = (
            DateTime::from_timestamp(start_seconds, 0),
            start_seconds <= to.timestamp(),
        ) else {
            return Ok(Vec::new());
        };
        let steps = ((to.timestamp() - start_seconds) / step + 1) as usize;
        let Some(matcher) = self.node_matcher(node, from, to)? else {
            return Ok(Vec::new());
        };
        let end = start + TimeDelta::seconds(step * (steps as i64 - 1));
        let step_duration = Duration::from_secs(step as u64);
        let mut matrices = Vec::new();
        for query in history_queries(
            &self.assembly.node_label,
            &matcher,
            self.assembly.rate_window,
        ) {
            let started = std::time::Instant::now();
            let matrix = self.api.range(query.expr(), start, end, step_duration)?;
            tracing::debug!(
                query = %query.expr().chars().take(80).collect::<String>(),
                seconds = started.elapsed().as_secs_f64(),
                series = matrix.series.len(),
                "PromQL history query"
            );
            matrices.push((query, matrix));
        }
        Ok(points(&self.assembly, node, matrices, start, step, steps))
    }
}

impl NodeStore for BackendHistory {
    fn push(
        &self,
        cluster: &str,
        snapshot: &NodeMetricsSnapshot,
        seen: DateTime<Utc>,
        rules: &PushRules,
    ) -> Result<(), StoreError> {
        self.local.push(cluster, snapshot, seen, rules)
    }

    fn clusters(&self) -> Result<Vec<String>, StoreError> {
        self.local.clusters()
    }

    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, StoreError> {
        self.local.latest(cluster)
    }

    fn latest_node(&self, cluster: &str, node: &str) -> Result<Option<LatestSnapshot>, StoreError> {
        self.local.latest_node(cluster, node)
    }

    fn latest_view(&self, cluster: &str) -> Result<LatestView, StoreError> {
        self.local.latest_view(cluster)
    }

    fn latest_generation(&self, cluster: &str) -> Option<u64> {
        self.local.latest_generation(cluster)
    }

    /// The backend's, for the cluster the source reads; the local store's otherwise.
    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, StoreError> {
        if cluster != self.cluster {
            return self.local.history(cluster, node, from, to);
        }
        self.backend_history(node, from, to)
            .map_err(|error| StoreError::Backend(error.to_string()))
    }

    fn series(
        &self,
        cluster: &str,
        node: &str,
        column: &'static SeriesColumn,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
        self.local.series(cluster, node, column, from, to)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.local.check_writable()
    }
}

#[cfg(test)]
mod tests {
    use super::super::query_api::parse_matrix_answer;
    use super::*;

    #[test]
    fn a_request_is_a_fixed_set_of_filtered_range_queries() {
        let matcher = label_matcher("instance", &["edge-1.lab"], true);
        assert_eq!(matcher, r#"instance=~"edge-1\\.lab(:[0-9]+)?""#);
        let queries = history_queries("instance", &matcher, Duration::from_secs(20));
        assert_eq!(queries.len(), 2 + HISTORY_RATED.len());
        assert_eq!(
            queries[0].expr(),
            r#"max by (instance) (timestamp(node_boot_time_seconds{instance=~"edge-1\\.lab(:[0-9]+)?"}) or timestamp(node_load1{instance=~"edge-1\\.lab(:[0-9]+)?"}) or timestamp(node_uname_info{instance=~"edge-1\\.lab(:[0-9]+)?"}) or timestamp(edge_node_info{instance=~"edge-1\\.lab(:[0-9]+)?"}))"#
        );
        assert!(queries[1]
            .expr()
            .starts_with(r#"{__name__=~"node_time_seconds|node_load1|node_load5|node_load15|edge_node_info|node_uname_info|"#));
        assert!(queries[1]
            .expr()
            .ends_with(r#"|node_thermal_zone_temp",device!~"lo|(veth|docker|br-|virbr|vnet|cni|flannel|cali).*",instance=~"edge-1\\.lab(:[0-9]+)?"}"#));
        assert!(!queries[1].expr().contains("edge_process"));
        assert_eq!(
            queries[2],
            HistoryQuery::Rate {
                family: "node_cpu_seconds_total",
                expr: r#"rate(node_cpu_seconds_total{instance=~"edge-1\\.lab(:[0-9]+)?"}[20s])"#
                    .into()
            }
        );
        // Several values, no ports; a quote cannot end the string.
        assert_eq!(
            label_matcher("node", &["a:9100", "b\"c"], false),
            r#"node=~"a:9100|b\"c""#
        );
    }

    #[test]
    fn steps_fit_the_window() {
        assert_eq!(step_for(TimeDelta::hours(1)), 60);
        assert_eq!(step_for(TimeDelta::hours(6)), 60);
        assert_eq!(step_for(TimeDelta::hours(7)), 300);
        assert_eq!(step_for(TimeDelta::hours(24)), 300);
        assert_eq!(step_for(TimeDelta::hours(168)), 900);
        // A year at 900 s would be 35,040 steps.
        assert_eq!(step_for(TimeDelta::days(365)), 3154);
    }

    #[test]
    fn reads_a_matrix() {
        // In the shape Prometheus 2.42 answers `query_range`.
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"node_load1","instance":"edge-1:9100","job":"edge"},"values":[[1796317800,"0.5"],[1796317860,"NaN"]]}]}}"#;
        let matrix = parse_matrix_answer(body).unwrap();
        assert_eq!(matrix.series.len(), 1);
        assert_eq!(
            matrix.series[0].labels[1],
            ("instance".into(), "edge-1:9100".into())
        );
        assert_eq!(matrix.series[0].points[0], (1_796_317_800_000, 0.5));
        assert!(matrix.series[0].points[1].1.is_nan());
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            parse_matrix_answer(vector).unwrap_err().to_string(),
            "expected a range vector (matrix), got \"vector\""
        );
    }

    fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> MatrixSeries {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain([("instance".to_string(), "edge-1:9100".to_string())])
            .collect();
        labels.sort();
        MatrixSeries {
            labels,
            points: points.iter().map(|(s, v)| (s * 1000, *v)).collect(),
        }
    }

    use super::super::query_api::MatrixSeries;

    #[test]
    fn points_are_derived_as_the_snapshot_s() {
        const T: i64 = 1_796_317_800;
        let both = |v: f64, w: f64| [(T, v), (T + 60, w)];
        let newest = Matrix {
            series: vec![series(
                &[],
                &[(T, T as f64 - 5.0), (T + 60, T as f64 - 5.0)],
            )],
            left_out: 0,
        };
        let instant = Matrix {
            series: vec![
                series(&[("__name__", "node_load1")], &both(0.5, 1.5)),
                series(
                    &[("__name__", "node_memory_MemTotal_bytes")],
                    &both(1000.0, 1000.0),
                ),
                series(
                    &[("__name__", "node_memory_MemAvailable_bytes")],
                    &both(750.0, 600.0),
                ),
                series(
                    &[
                        ("__name__", "node_filesystem_size_bytes"),
                        ("device", "/dev/sda1"),
                        ("mountpoint", "/"),
                        ("fstype", "ext4"),
                    ],
                    &both(100.0, 100.0),
                ),
                series(
                    &[
                        ("__name__", "node_filesystem_free_bytes"),
                        ("device", "/dev/sda1"),
                        ("mountpoint", "/"),
                        ("fstype", "ext4"),
                    ],
                    &both(60.0, 60.0),
                ),
                series(
                    &[
                        ("__name__", "node_filesystem_avail_bytes"),
                        ("device", "/dev/sda1"),
                        ("mountpoint", "/"),
                        ("fstype", "ext4"),
                    ],
                    &both(40.0, 40.0),
                ),
                series(
                    &[
                        ("__name__", "node_network_info"),
                        ("device", "eth0"),
                        ("operstate", "up"),
                    ],
                    &both(1.0, 1.0),
                ),
                series(
                    &[
                        ("__name__", "node_network_receive_bytes_total"),
                        ("device", "eth0"),
                    ],
                    &both(1e6, 2e6),
                ),
            ],
            left_out: 0,
        };
        let cpu = Matrix {
            series: vec![
                series(&[("cpu", "0"), ("mode", "idle")], &both(0.75, 0.5)),
                series(&[("cpu", "0"), ("mode", "user")], &both(0.25, 0.5)),
            ],
            left_out: 0,
        };
        let rx = Matrix {
            series: vec![series(&[("device", "eth0")], &both(1000.0, 3000.0))],
            left_out: 0,
        };
        let disk = Matrix {
            series: vec![series(&[("device", "sda")], &both(512.0, 0.0))],
            left_out: 0,
        };
        let matcher = label_matcher("instance", &["edge-1"], true);
        let queries = history_queries("instance", &matcher, Duration::from_secs(20));
        let mut answers = vec![newest, instant, cpu, Matrix::default(), Matrix::default()];
        answers.push(rx);
        answers.push(Matrix::default());
        answers[3] = disk;
        let matrices: Vec<(HistoryQuery, Matrix)> = queries.into_iter().zip(answers).collect();
        let assembly = Assembly {
            node_label: "instance".into(),
            naming: NodeNaming::Label,
            rate_window: Duration::from_secs(20),
            max_age: Duration::from_secs(30),
        };
        let start = DateTime::from_timestamp(T, 0).unwrap();
        let points = points(&assembly, "edge-1", matrices, start, 60, 2);
        // The second step's heartbeat is 65 s old: offline, no point.
        assert_eq!(points.len(), 1);
        let point = &points[0];
        assert_eq!(point.timestamp, start);
        assert_eq!(point.node_name, "edge-1");
        assert_eq!(point.cpu_usage, 25.0);
        assert_eq!(point.memory_usage, 25.0);
        assert_eq!(point.disk_usage, 40.0 / (40.0 + 40.0) * 100.0);
        assert_eq!(point.disk_io_read, 512.0);
        assert!(
            (point.network_rx - 1000.0).abs() < 1e-9,
            "{}",
            point.network_rx
        );
        assert_eq!(point.network_tx, 0.0);
        assert_eq!(point.load_1, 0.5);
        // Another node's name: nothing.
        let none = super::points(&assembly, "edge-2", Vec::new(), start, 60, 2);
        assert!(none.is_empty());
    }

    #[test]
    fn a_failed_backend_is_a_bad_gateway_and_other_clusters_are_local() {
        let dir = tempfile::tempdir().unwrap();
        let local: SharedStore =
            std::sync::Arc::new(crate::store::Store::open(&dir.path().join("m.db")).unwrap());
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let store = BackendHistory::new(
            local,
            QueryApi::new(
                &url,
                super::super::query_api::BackendAuth::None,
                &super::super::backend_tls::BackendTls::default(),
                Duration::from_secs(5),
            ),
            "default".into(),
            Assembly {
                node_label: "instance".into(),
                naming: NodeNaming::Label,
                rate_window: Duration::from_secs(20),
                max_age: Duration::from_secs(30),
            },
        );
        let to = Utc::now();
        let from = to - TimeDelta::hours(1);
        let error = store.history("default", "edge-1", from, to).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the metrics backend: query max by (instance) (timestamp("),
            "{error}"
        );
        let status = crate::api::ApiError::Store(error).status();
        assert_eq!(status, axum::http::StatusCode::BAD_GATEWAY);
        // Pushed clusters' history stays the local store's.
        assert_eq!(store.history("other", "edge-1", from, to).unwrap(), []);
    }
}
