//! atlhyper's observe routes, which its web page reads today
//! (`/api/v2/observe/metrics/{summary,nodes,nodes/{node},nodes/{node}/series}`): the
//! same reads as the node-metrics routes, shaped as `model::observe` views inside
//! `{"message": "获取成功", "data": …}`, with atlhyper's error messages.
//!
//! Where we answer differently from atlhyper's server, on purpose:
//! - A served cluster with no nodes yet is 200 with `[]` (atlhyper: 404, because its
//!   empty list is dropped on the way), and its summary is all zeros.
//! - Nodes are sorted by name (atlhyper: discovery order) and offline nodes stay
//!   listed, marked by `status` (atlhyper drops a node silent for 5 minutes).
//! - A path segment after the node other than `series` is 404, not the node.
//! - Series come from the stored history (one point per `--sample-interval`, hourly
//!   averages past a week; the values a history point lacks are kept beside it by
//!   `store::series`), not from a 15-minute ring or a one-hour minute ring.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeDelta, Utc};

use super::error::ApiError;
use super::list_cache::{JsonBody, ListView};
use super::node_metrics::{self, UnknownCluster};
use super::params::{self, Params, CLUSTER_ID_REQUIRED};
use super::state::AppState;
use crate::model::observe::{round, Envelope, ObserveNode, ObservePoint, ObserveSeries};
use crate::model::MetricsDataPoint;
use crate::store::series::{self as stored_series, SeriesColumn};

/// 404 when the cluster is unknown: "data not ready yet".
pub const NOT_READY: &str = "数据尚未就绪";
/// 404 when the node is unknown: "node not found".
pub const NODE_NOT_FOUND: &str = "节点未找到";
/// 404 when a series has no points: "time series not ready".
pub const SERIES_NOT_READY: &str = "时序数据未就绪";
const NODE_NAME_REQUIRED: &str = "node name is required";
/// The 405 message of these routes (capitalised, unlike the others').
const METHOD_NOT_ALLOWED: &str = "Method not allowed";
/// `minutes` of a series when absent or not a whole number above 0.
pub const DEFAULT_SERIES_MINUTES: u32 = 30;
/// The most points a series answers: a day of minutes. A longer or denser window is
/// averaged down to it (a week at a 1 s sample interval would be 600 000 points).
pub const MAX_SERIES_POINTS: usize = 1440;

/// `GET /api/v2/observe/metrics/summary?cluster_id=X`
pub async fn summary(
    State(state): State<Arc<AppState>>,
    Params { query, .. }: Params<()>,
) -> Result<JsonBody, ApiError> {
    let cluster = cluster_id(&query)?;
    node_metrics::list_body(
        &state,
        cluster,
        UnknownCluster::NotFound,
        ListView::ObserveSummary,
    )
    .await
    .map_err(not_ready)
}

/// `GET /api/v2/observe/metrics/nodes?cluster_id=X`: every node, sorted by name.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    Params { query, .. }: Params<()>,
) -> Result<JsonBody, ApiError> {
    let cluster = cluster_id(&query)?;
    node_metrics::list_body(
        &state,
        cluster,
        UnknownCluster::NotFound,
        ListView::ObserveNodes,
    )
    .await
    .map_err(not_ready)
}

/// `GET /api/v2/observe/metrics/nodes/` (no name): 400, after `cluster_id`.
pub async fn no_node_name(Params { query, .. }: Params<()>) -> ApiError {
    match cluster_id(&query) {
        Err(error) => error,
        Ok(_) => ApiError::BadRequest(NODE_NAME_REQUIRED.to_owned()),
    }
}

/// `GET /api/v2/observe/metrics/nodes/{node_name}?cluster_id=X`
pub async fn node(
    State(state): State<Arc<AppState>>,
    Params { path: node, query }: Params<String>,
) -> Result<Json<Envelope<ObserveNode>>, ApiError> {
    let cluster = cluster_id(&query)?;
    let listed = node_metrics::node(&state, cluster, node)
        .await
        .map_err(|error| match error {
            ApiError::UnknownNode { .. } => ApiError::NotFound(NODE_NOT_FOUND.to_owned()),
            error => not_ready(error),
        })?;
    Ok(Json(Envelope::fetched(ObserveNode::of(
        &listed.snapshot,
        &listed.status,
    ))))
}

/// `GET /api/v2/observe/metrics/nodes/{node_name}/series?cluster_id=X&metric=M&minutes=N`
pub async fn series(
    State(state): State<Arc<AppState>>,
    Params { path: node, query }: Params<String>,
) -> Result<Json<Envelope<ObserveSeries>>, ApiError> {
    let cluster = cluster_id(&query)?;
    let metric = query.get("metric").cloned().unwrap_or_default();
    let max_minutes = state.settings.max_history_hours().saturating_mul(60);
    let minutes = series_minutes(&query, max_minutes);
    let span = TimeDelta::minutes(i64::from(minutes));
    let series_not_ready = |error| match error {
        ApiError::UnknownNode { .. } => ApiError::NotFound(SERIES_NOT_READY.to_owned()),
        error => not_ready(error),
    };
    let values: Vec<(DateTime<Utc>, f64)> = match series_metric(&metric) {
        SeriesMetric::Point(value) => node_metrics::recent_points(&state, cluster, node, span)
            .await
            .map_err(series_not_ready)?
            .2
            .iter()
            .map(|point| (point.timestamp, value(point)))
            .collect(),
        SeriesMetric::Column(column) => {
            node_metrics::recent_series(&state, cluster, node, span, column)
                .await
                .map_err(series_not_ready)?
        }
    };
    let points: Vec<ObservePoint> = thinned(values, MAX_SERIES_POINTS)
        .into_iter()
        .map(|(timestamp, value)| ObservePoint {
            timestamp,
            value: round(value, 2),
        })
        // As atlhyper: a negative value is no reading.
        .filter(|point| point.value >= 0.0)
        .collect();
    if points.is_empty() {
        return Err(ApiError::NotFound(SERIES_NOT_READY.to_owned()));
    }
    Ok(Json(Envelope::fetched(ObserveSeries { metric, points })))
}

/// Any other method on these routes: `OPTIONS` that is not a CORS preflight (those
/// are answered before this) is 200 with an empty body, as atlhyper answers it; the
/// rest 405.
pub async fn other_method(method: Method) -> Response {
    if method == Method::OPTIONS {
        return StatusCode::OK.into_response();
    }
    ApiError::Rejected {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: METHOD_NOT_ALLOWED.to_owned(),
    }
    .into_response()
}

fn cluster_id(query: &HashMap<String, String>) -> Result<String, ApiError> {
    params::cluster_id(query, CLUSTER_ID_REQUIRED)
}

/// An unknown cluster is "data not ready yet", as atlhyper answers for a cluster
/// without a snapshot.
fn not_ready(error: ApiError) -> ApiError {
    match error {
        ApiError::UnknownCluster(_) => ApiError::NotFound(NOT_READY.to_owned()),
        error => error,
    }
}

/// `minutes`: a whole number above 0, else 30 (as atlhyper); at most the retention.
fn series_minutes(query: &HashMap<String, String>, max: u32) -> u32 {
    query
        .get("minutes")
        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|minutes| *minutes > 0)
        .unwrap_or(DEFAULT_SERIES_MINUTES)
        .min(max.max(1))
}

/// At most `max` points: runs of consecutive points averaged into one, dated by the
/// first of the run. Fewer points are kept as they are.
fn thinned(values: Vec<(DateTime<Utc>, f64)>, max: usize) -> Vec<(DateTime<Utc>, f64)> {
    if values.len() <= max || max == 0 {
        return values;
    }
    let run = values.len().div_ceil(max);
    values
        .chunks(run)
        .filter_map(|chunk| {
            let (first, _) = chunk.first()?;
            let sum = chunk.iter().fold(0.0, |sum, (_, v)| sum + v);
            Some((*first, sum / chunk.len() as f64))
        })
        .collect()
}

/// Where a series `metric` is read.
enum SeriesMetric {
    /// A value of the history point.
    Point(fn(&MetricsDataPoint) -> f64),
    /// A column kept for these series (`store::series`).
    Column(&'static SeriesColumn),
}

/// atlhyper's names; an unknown or empty name is CPU usage, as there.
fn series_metric(name: &str) -> SeriesMetric {
    use SeriesMetric::{Column, Point};
    let column = |name: &str| stored_series::find(name).map(Column);
    let found = match name {
        "memory_usage" | "memory" => Some(Point(|p| p.memory_usage)),
        "disk_usage" | "disk" => Some(Point(|p| p.disk_usage)),
        "disk_read_bps" => Some(Point(|p| p.disk_io_read)),
        "disk_write_bps" => Some(Point(|p| p.disk_io_write)),
        "temperature" | "cpu_temp" => Some(Point(|p| p.cpu_temp)),
        "cpu_load1" => Some(Point(|p| p.load_1)),
        "cpu_load5" => column("load_5"),
        "cpu_load15" => column("load_15"),
        "net_rx_bps" | "net_rx" => column("net_rx_bps"),
        "net_tx_bps" | "net_tx" => column("net_tx_bps"),
        // cpu_user, cpu_system, cpu_iowait, swap_usage, psi_*, tcp_established,
        // sockets_used, disk_io_util, net_*_pkt: a column of the same name.
        other => column(other),
    };
    found.unwrap_or(Point(|p| p.cpu_usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn minutes_default_to_30_and_stop_at_the_retention() {
        assert_eq!(series_minutes(&query(&[]), 600), 30);
        assert_eq!(series_minutes(&query(&[("minutes", "5")]), 600), 5);
        for bad in ["0", "-5", "1.5", "abc", "", "99999999999"] {
            assert_eq!(
                series_minutes(&query(&[("minutes", bad)]), 600),
                30,
                "{bad}"
            );
        }
        assert_eq!(series_minutes(&query(&[("minutes", "100000")]), 600), 600);
        assert_eq!(series_minutes(&query(&[]), 10), 10);
    }

    #[test]
    fn long_series_are_averaged_down() {
        use chrono::TimeZone;
        let t = |s: i64| Utc.timestamp_opt(1_776_470_400 + s, 0).unwrap();
        let values: Vec<_> = (0..10).map(|i| (t(i), i as f64)).collect();
        assert_eq!(thinned(values.clone(), 10), values);
        // Runs of 3: [0,1,2] [3,4,5] [6,7,8] [9].
        assert_eq!(
            thinned(values.clone(), 4),
            [(t(0), 1.0), (t(3), 4.0), (t(6), 7.0), (t(9), 9.0)]
        );
        let many: Vec<_> = (0..100_000).map(|i| (t(i), 1.0)).collect();
        assert!(thinned(many, MAX_SERIES_POINTS).len() <= MAX_SERIES_POINTS);
    }

    #[test]
    fn metric_names() {
        let point = MetricsDataPoint {
            cpu_usage: 1.0,
            memory_usage: 2.0,
            disk_usage: 3.0,
            disk_io_read: 4.0,
            disk_io_write: 5.0,
            network_rx: 6.0,
            network_tx: 7.0,
            cpu_temp: 8.0,
            load_1: 9.0,
            ..MetricsDataPoint::default()
        };
        for (names, expected) in [
            (&["cpu_usage", "cpu", "", "bogus", "history"][..], 1.0),
            (&["memory_usage", "memory"], 2.0),
            (&["disk_usage", "disk"], 3.0),
            (&["disk_read_bps"], 4.0),
            (&["disk_write_bps"], 5.0),
            (&["temperature", "cpu_temp"], 8.0),
            (&["cpu_load1"], 9.0),
        ] {
            for name in names {
                match series_metric(name) {
                    SeriesMetric::Point(value) => assert_eq!(value(&point), expected, "{name}"),
                    SeriesMetric::Column(c) => panic!("{name} is read from {}", c.column),
                }
            }
        }
        for (name, column) in [
            ("cpu_user", "cpu_user"),
            ("cpu_system", "cpu_system"),
            ("cpu_iowait", "cpu_iowait"),
            ("cpu_load5", "load_5"),
            ("cpu_load15", "load_15"),
            ("swap_usage", "swap_usage"),
            ("psi_cpu", "psi_cpu"),
            ("psi_memory", "psi_memory"),
            ("psi_io", "psi_io"),
            ("tcp_established", "tcp_established"),
            ("sockets_used", "sockets_used"),
            ("disk_io_util", "disk_io_util"),
            ("net_rx_bps", "net_rx_bps"),
            ("net_rx", "net_rx_bps"),
            ("net_tx_bps", "net_tx_bps"),
            ("net_tx", "net_tx_bps"),
            ("net_rx_pkt", "net_rx_pkt"),
            ("net_tx_pkt", "net_tx_pkt"),
        ] {
            match series_metric(name) {
                SeriesMetric::Column(c) => assert_eq!(c.column, column, "{name}"),
                SeriesMetric::Point(_) => panic!("{name} is a column"),
            }
        }
    }
}
