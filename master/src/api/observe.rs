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
//! - Series come from the stored history (one point per scrape interval, hourly
//!   averages past a week), not from a 15-minute ring or a one-hour minute ring.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::TimeDelta;

use super::error::ApiError;
use super::node_metrics::{self, UnknownCluster};
use super::params::Params;
use super::state::AppState;
use crate::model::observe::{
    round, Envelope, ObserveNode, ObservePoint, ObserveSeries, ObserveSummary,
};
use crate::model::MetricsDataPoint;

/// 404 when the cluster is unknown: "data not ready yet".
pub const NOT_READY: &str = "数据尚未就绪";
/// 404 when the node is unknown: "node not found".
pub const NODE_NOT_FOUND: &str = "节点未找到";
/// 404 when a series has no points: "time series not ready".
pub const SERIES_NOT_READY: &str = "时序数据未就绪";
const CLUSTER_ID_REQUIRED: &str = "cluster_id is required";
const NODE_NAME_REQUIRED: &str = "node name is required";
/// The 405 message of these routes (capitalised, unlike the others').
const METHOD_NOT_ALLOWED: &str = "Method not allowed";
/// `minutes` of a series when absent or not a whole number above 0.
pub const DEFAULT_SERIES_MINUTES: u32 = 30;

/// `GET /api/v2/observe/metrics/summary?cluster_id=X`
pub async fn summary(
    State(state): State<Arc<AppState>>,
    Params { query, .. }: Params<()>,
) -> Result<Json<Envelope<ObserveSummary>>, ApiError> {
    let cluster = cluster_id(&query)?;
    let list = node_metrics::list(&state, cluster, UnknownCluster::NotFound)
        .await
        .map_err(not_ready)?;
    Ok(Json(Envelope::fetched(ObserveSummary::from(&list.summary))))
}

/// `GET /api/v2/observe/metrics/nodes?cluster_id=X`: every node, sorted by name.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    Params { query, .. }: Params<()>,
) -> Result<Json<Envelope<Vec<ObserveNode>>>, ApiError> {
    let cluster = cluster_id(&query)?;
    let list = node_metrics::list(&state, cluster, UnknownCluster::NotFound)
        .await
        .map_err(not_ready)?;
    let nodes = list
        .nodes
        .iter()
        .map(|node| ObserveNode::of(&node.snapshot, &node.status))
        .collect();
    Ok(Json(Envelope::fetched(nodes)))
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
    let SeriesMetric::Stored(value) = series_metric(&metric) else {
        return Err(ApiError::NotFound(SERIES_NOT_READY.to_owned()));
    };
    let (_, _, points) = node_metrics::recent_points(
        &state,
        cluster,
        node,
        TimeDelta::minutes(i64::from(minutes)),
    )
    .await
    .map_err(|error| match error {
        ApiError::UnknownNode { .. } => ApiError::NotFound(SERIES_NOT_READY.to_owned()),
        error => not_ready(error),
    })?;
    let points: Vec<ObservePoint> = points
        .iter()
        .map(|point| ObservePoint {
            timestamp: point.timestamp,
            value: round(value(point), 2),
        })
        // As atlhyper: a negative value is no reading.
        .filter(|point| point.value >= 0.0)
        .collect();
    if points.is_empty() {
        return Err(ApiError::NotFound(SERIES_NOT_READY.to_owned()));
    }
    Ok(Json(Envelope::fetched(ObserveSeries { metric, points })))
}

/// Any other method on these routes.
pub async fn method_not_allowed() -> ApiError {
    ApiError::Rejected {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: METHOD_NOT_ALLOWED.to_owned(),
    }
}

fn cluster_id(query: &HashMap<String, String>) -> Result<String, ApiError> {
    match query.get("cluster_id") {
        Some(cluster) if !cluster.is_empty() => Ok(cluster.clone()),
        _ => Err(ApiError::BadRequest(CLUSTER_ID_REQUIRED.to_owned())),
    }
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

/// What a series `metric` reads from a history point.
enum SeriesMetric {
    Stored(fn(&MetricsDataPoint) -> f64),
    /// A metric of atlhyper's table that the history does not keep (yet).
    NotStored,
}

/// atlhyper's names; an unknown or empty name is CPU usage, as there.
fn series_metric(name: &str) -> SeriesMetric {
    use SeriesMetric::{NotStored, Stored};
    match name {
        "memory_usage" | "memory" => Stored(|p| p.memory_usage),
        "disk_usage" | "disk" => Stored(|p| p.disk_usage),
        "disk_read_bps" => Stored(|p| p.disk_io_read),
        "disk_write_bps" => Stored(|p| p.disk_io_write),
        // The primary interface (atlhyper: the sum over up interfaces but lo).
        "net_rx_bps" | "net_rx" => Stored(|p| p.network_rx),
        "net_tx_bps" | "net_tx" => Stored(|p| p.network_tx),
        "temperature" | "cpu_temp" => Stored(|p| p.cpu_temp),
        "cpu_load1" => Stored(|p| p.load_1),
        "cpu_user" | "cpu_system" | "cpu_iowait" | "cpu_load5" | "cpu_load15" | "swap_usage"
        | "psi_cpu" | "psi_memory" | "psi_io" | "tcp_established" | "sockets_used"
        | "disk_io_util" | "net_rx_pkt" | "net_tx_pkt" => NotStored,
        _ => Stored(|p| p.cpu_usage),
    }
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
            (&["cpu_usage", "cpu", "", "bogus"][..], 1.0),
            (&["memory_usage", "memory"], 2.0),
            (&["disk_usage", "disk"], 3.0),
            (&["disk_read_bps"], 4.0),
            (&["disk_write_bps"], 5.0),
            (&["net_rx_bps", "net_rx"], 6.0),
            (&["net_tx_bps", "net_tx"], 7.0),
            (&["temperature", "cpu_temp"], 8.0),
            (&["cpu_load1"], 9.0),
        ] {
            for name in names {
                match series_metric(name) {
                    SeriesMetric::Stored(value) => assert_eq!(value(&point), expected, "{name}"),
                    SeriesMetric::NotStored => panic!("{name} is stored"),
                }
            }
        }
        assert!(matches!(series_metric("psi_cpu"), SeriesMetric::NotStored));
    }
}
