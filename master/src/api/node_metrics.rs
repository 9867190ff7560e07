//! The read side of the API, shared by the cluster-scoped routes, the older
//! `?cluster_id=` ones and the observe ones: a cluster's nodes with their status and
//! the summary, one node, one node's history. Each read is one trip to the store's
//! blocking thread.
//!
//! The list bodies are built from the store's latest snapshots in memory, never from
//! SQLite, and kept until the cluster changes or a node's status would
//! (`list_cache`); the nodes' JSON is the store's, spliced rather than serialised again
//! ([`node_list_json`]). At 1,000 nodes a list is a 5 MB body: serialising it per
//! request took most of a core under a dashboard's polling.

use std::sync::Arc;

use axum::body::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use super::error::ApiError;
use super::list_cache::{CachedBody, JsonBody, ListView};
use super::node_store::{with_store, LatestSnapshot, NodeStore};
use super::state::AppState;
use super::summary::{node_status, summarize, WarningThresholds, OFFLINE, ONLINE};
use crate::model::observe::{Envelope, ObserveNode, ObserveSummary};
use crate::model::{ClusterInfo, ListedNode, MetricsDataPoint, NodeMetricsSnapshot};
use crate::store::series::SeriesColumn;
use crate::store::{LatestNode, StoreError};

/// A node's history over a window ending now.
#[derive(Debug)]
pub struct NodeHistory {
    pub node_name: String,
    pub hours: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub points: Vec<MetricsDataPoint>,
}

/// How a list route answers for a cluster this master does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCluster {
    /// 404, as the cluster-scoped routes of atlhyper's design do.
    NotFound,
    /// 200 with no nodes and a zero summary, as atlhyper's `?cluster_id=` route does
    /// (its web client asks for a built-in default id before it knows the real one).
    Empty,
}

/// The body of `view` of `cluster`'s list: kept from an earlier request while it holds
/// (`list_cache`), else built from the store's latest snapshots in memory (no SQLite
/// read) and kept.
pub async fn list_body(
    state: &Arc<AppState>,
    cluster: String,
    unknown: UnknownCluster,
    view: ListView,
) -> Result<JsonBody, ApiError> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || list_body_now(&state, &cluster, unknown, view)).await?
}

fn list_body_now(
    state: &AppState,
    cluster: &str,
    unknown: UnknownCluster,
    view: ListView,
) -> Result<JsonBody, ApiError> {
    let store = &*state.store;
    let kept = || {
        let generation = store.latest_generation(cluster)?;
        state.lists.get(cluster, view, generation, Utc::now())
    };
    if let Some(body) = kept() {
        return Ok(JsonBody(body));
    }
    let _turn = state.lists.building();
    if let Some(body) = kept() {
        return Ok(JsonBody(body));
    }
    let now = Utc::now();
    let latest = store.latest_view(cluster).map_err(ApiError::Store)?;
    if latest.nodes.is_empty() && unknown == UnknownCluster::NotFound {
        require_cluster(store, cluster, &state.settings.cluster_id)?;
    }
    let offline_after = state.settings.offline_after;
    let statuses: Vec<&'static str> = latest
        .nodes
        .iter()
        .map(|node| node_status(node.last_seen, now, offline_after))
        .collect();
    let limit = TimeDelta::from_std(offline_after).unwrap_or(TimeDelta::MAX);
    let valid_until = latest
        .nodes
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == ONLINE)
        .filter_map(|(node, _)| node.last_seen.checked_add_signed(limit))
        .min();
    let thresholds = state.settings.warning_thresholds();
    let body = Bytes::from(
        match view {
            ListView::NodeList => node_list_json(&latest.nodes, &statuses, &thresholds),
            ListView::ObserveSummary => {
                let summary = summarize(with_status(&latest.nodes, &statuses), &thresholds);
                serde_json::to_vec(&Envelope::fetched(ObserveSummary::from(&summary)))
            }
            ListView::ObserveNodes => {
                let nodes: Vec<ObserveNode> = with_status(&latest.nodes, &statuses)
                    .map(|(snapshot, status)| ObserveNode::of(snapshot, status))
                    .collect();
                serde_json::to_vec(&Envelope::fetched(nodes))
            }
        }
        .map_err(|error| ApiError::Internal(format!("serialising the list: {error}")))?,
    );
    if let Some(generation) = latest.generation {
        state.lists.put(
            cluster,
            view,
            CachedBody {
                generation,
                built_at: now,
                valid_until,
                body: body.clone(),
            },
        );
    }
    Ok(JsonBody(body))
}

/// Each node's snapshot with its status.
fn with_status<'a>(
    nodes: &'a [LatestNode],
    statuses: &'a [&'static str],
) -> impl Iterator<Item = (&'a NodeMetricsSnapshot, &'a str)> + Clone {
    nodes
        .iter()
        .zip(statuses)
        .map(|(node, status)| (&*node.snapshot, *status))
}

/// `{"summary": …, "nodes": [ListedNode…]}`, the bytes `serde_json` writes for them, with
/// each node's snapshot JSON taken as the store keeps it rather than serialised again:
/// a `ListedNode` is its snapshot's fields (flattened) followed by `status` and
/// `last_seen`, so its JSON is the snapshot's with those two keys added before the
/// closing brace.
fn node_list_json(
    nodes: &[LatestNode],
    statuses: &[&'static str],
    thresholds: &WarningThresholds,
) -> serde_json::Result<Vec<u8>> {
    const TAIL_BYTES: usize = 64;
    let summary = summarize(with_status(nodes, statuses), thresholds);
    let size: usize = nodes.iter().map(|node| node.json.len() + TAIL_BYTES).sum();
    let mut out = Vec::with_capacity(size + 1024);
    out.extend_from_slice(b"{\"summary\":");
    serde_json::to_writer(&mut out, &summary)?;
    out.extend_from_slice(b",\"nodes\":[");
    for (i, (node, status)) in nodes.iter().zip(statuses).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match node.json.strip_suffix('}').filter(|head| head.len() > 1) {
            Some(head) => {
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(b",\"status\":");
                serde_json::to_writer(&mut out, status)?;
                out.extend_from_slice(b",\"last_seen\":");
                serde_json::to_writer(&mut out, &node.last_seen)?;
                out.push(b'}');
            }
            // Not an object with fields (never, as the store encodes them): serialised.
            None => serde_json::to_writer(
                &mut out,
                &ListedNode {
                    snapshot: NodeMetricsSnapshot::clone(&node.snapshot),
                    status: (*status).to_owned(),
                    last_seen: node.last_seen,
                },
            )?,
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// Every cluster this master serves: the configured one first (pages that pick the
/// first cluster land on it), then the others that have nodes in the store, by id.
pub async fn clusters(state: &AppState) -> Result<Vec<ClusterInfo>, ApiError> {
    let configured = state.settings.cluster_id.clone();
    let per_cluster = with_store(&state.store, move |store| -> Result<_, ApiError> {
        let mut ids = store.clusters().map_err(ApiError::Store)?;
        ids.retain(|id| *id != configured);
        ids.sort();
        ids.insert(0, configured);
        ids.into_iter()
            .map(|id| {
                let latest = store.latest_view(&id).map_err(ApiError::Store)?;
                Ok((id, latest.nodes))
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    let now = Utc::now();
    let offline_after = state.settings.offline_after;
    Ok(per_cluster
        .into_iter()
        .map(|(cluster_id, nodes)| {
            let online = nodes
                .iter()
                .any(|node| node_status(node.last_seen, now, offline_after) == ONLINE);
            ClusterInfo {
                cluster_id,
                status: if online { ONLINE } else { OFFLINE }.to_owned(),
                last_seen: nodes.iter().map(|node| node.last_seen).max(),
                node_count: i64::try_from(nodes.len()).unwrap_or(i64::MAX),
                pod_count: 0,
                otel_available: true,
            }
        })
        .collect())
}

pub async fn node(state: &AppState, cluster: String, node: String) -> Result<ListedNode, ApiError> {
    let configured = state.settings.cluster_id.clone();
    let latest = with_store(&state.store, move |store| -> Result<_, ApiError> {
        find_node(store, &cluster, &node, &configured)
    })
    .await?;
    Ok(listed(latest, Utc::now(), state))
}

pub async fn history(
    state: &AppState,
    cluster: String,
    node: String,
    hours: u32,
) -> Result<NodeHistory, ApiError> {
    let span = TimeDelta::try_hours(i64::from(hours))
        .ok_or_else(|| ApiError::BadRequest(format!("hours={hours} is too long")))?;
    let node_name = node.clone();
    let (start, end, points) = recent_points(state, cluster, node, span).await?;
    Ok(NodeHistory {
        node_name,
        hours,
        start,
        end,
        points,
    })
}

/// A node's history points of the last `span` (start, end = now, points ascending).
pub async fn recent_points(
    state: &AppState,
    cluster: String,
    node: String,
    span: TimeDelta,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Vec<MetricsDataPoint>), ApiError> {
    recent(
        state,
        cluster,
        node,
        span,
        |store, cluster, node, from, to| store.history(cluster, node, from, to),
    )
    .await
}

/// A node's values of one stored series over the last `span`, ascending.
pub async fn recent_series(
    state: &AppState,
    cluster: String,
    node: String,
    span: TimeDelta,
    column: &'static SeriesColumn,
) -> Result<Vec<(DateTime<Utc>, f64)>, ApiError> {
    let (_, _, values) = recent(
        state,
        cluster,
        node,
        span,
        move |store, cluster, node, from, to| store.series(cluster, node, column, from, to),
    )
    .await?;
    Ok(values)
}

/// What `read` gives for the window of the last `span` of a node that exists.
async fn recent<T: Send + 'static>(
    state: &AppState,
    cluster: String,
    node: String,
    span: TimeDelta,
    read: impl FnOnce(&dyn NodeStore, &str, &str, DateTime<Utc>, DateTime<Utc>) -> Result<T, StoreError>
        + Send
        + 'static,
) -> Result<(DateTime<Utc>, DateTime<Utc>, T), ApiError> {
    let end = Utc::now();
    let start = end
        .checked_sub_signed(span)
        .ok_or_else(|| ApiError::BadRequest(format!("{span} reaches before year 1")))?;
    let configured = state.settings.cluster_id.clone();
    let values = with_store(&state.store, move |store| -> Result<_, ApiError> {
        find_node(store, &cluster, &node, &configured)?;
        read(store, &cluster, &node, start, end).map_err(ApiError::Store)
    })
    .await?;
    Ok((start, end, values))
}

fn listed(
    (snapshot, last_seen): LatestSnapshot,
    now: DateTime<Utc>,
    state: &AppState,
) -> ListedNode {
    ListedNode {
        snapshot,
        status: node_status(last_seen, now, state.settings.offline_after).to_owned(),
        last_seen,
    }
}

fn find_node(
    store: &dyn NodeStore,
    cluster: &str,
    node: &str,
    configured: &str,
) -> Result<LatestSnapshot, ApiError> {
    match store.latest_node(cluster, node).map_err(ApiError::Store)? {
        Some(latest) => Ok(latest),
        None => {
            require_cluster(store, cluster, configured)?;
            Err(ApiError::UnknownNode {
                cluster: cluster.to_owned(),
                node: node.to_owned(),
            })
        }
    }
}

/// A cluster exists when it is the one this master serves (even before its first
/// snapshot: its list is then empty, not missing) or when the store has nodes of it.
fn require_cluster(store: &dyn NodeStore, cluster: &str, configured: &str) -> Result<(), ApiError> {
    if cluster == configured
        || store
            .clusters()
            .map_err(ApiError::Store)?
            .iter()
            .any(|known| known == cluster)
    {
        Ok(())
    } else {
        Err(ApiError::UnknownCluster(cluster.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use crate::model::{ClusterMetricsSummary, DiskMetrics, NetworkMetrics, ProcessMetrics};

    /// The list body as the routes answered it before bodies were spliced.
    #[derive(Serialize)]
    struct NodeList {
        summary: ClusterMetricsSummary,
        nodes: Vec<ListedNode>,
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    /// A snapshot with every list filled, and a name that needs escaping.
    fn rich(name: &str, cpu: f64) -> NodeMetricsSnapshot {
        let mut s = NodeMetricsSnapshot {
            node_name: name.into(),
            timestamp: at("2026-11-22T10:00:00.123456789Z"),
            hostname: format!("{name}.local"),
            os: "Debian GNU/Linux 13 (trixie)".into(),
            kernel: "6.12.0".into(),
            uptime: 123_456,
            node_ip: "192.168.0.7".into(),
            ..NodeMetricsSnapshot::default()
        };
        s.cpu.usage_percent = cpu;
        s.cpu.load_1 = 0.25;
        s.memory.total = 8 << 30;
        s.memory.used = 3 << 30;
        s.memory.usage_percent = 37.5;
        s.disks = vec![DiskMetrics {
            device: "/dev/mmcblk0p2".into(),
            mount_point: "/".into(),
            total: 64 << 30,
            used: 10 << 30,
            usage_percent: 15.625,
            read_rate: 1234.5,
            ..DiskMetrics::default()
        }];
        s.networks = vec![NetworkMetrics {
            interface: "eth0".into(),
            status: "up".into(),
            rx_rate: 1e6 / 3.0,
            tx_rate: 0.1,
            ..NetworkMetrics::default()
        }];
        s.temperature.cpu_temp = 51.3;
        s.processes = vec![ProcessMetrics {
            pid: 1,
            name: "systemd".into(),
            cmdline: "/sbin/init \"splash\" \\ ünïcode \u{1}".into(),
            cpu_percent: 0.5,
            ..ProcessMetrics::default()
        }];
        s
    }

    fn latest(snapshot: NodeMetricsSnapshot, last_seen: DateTime<Utc>) -> LatestNode {
        LatestNode {
            json: serde_json::to_string(&snapshot).unwrap().into(),
            snapshot: Arc::new(snapshot),
            last_seen,
        }
    }

    #[test]
    fn the_spliced_list_is_byte_for_byte_what_serde_writes() {
        let thresholds = WarningThresholds {
            cpu_percent: 80.0,
            memory_percent: 80.0,
            cpu_temp: 75.0,
        };
        let nodes = vec![
            latest(rich("a \"quoted\" node", 90.0), at("2026-11-22T10:00:01Z")),
            latest(rich("b", 12.5), at("2026-11-22T09:00:00.5Z")),
            latest(NodeMetricsSnapshot::default(), at("2026-11-22T10:00:02Z")),
        ];
        let statuses = [ONLINE, OFFLINE, ONLINE];
        let spliced = node_list_json(&nodes, &statuses, &thresholds).unwrap();
        let listed: Vec<ListedNode> = nodes
            .iter()
            .zip(statuses)
            .map(|(node, status)| ListedNode {
                snapshot: NodeMetricsSnapshot::clone(&node.snapshot),
                status: status.to_owned(),
                last_seen: node.last_seen,
            })
            .collect();
        let expected = serde_json::to_vec(&NodeList {
            summary: summarize(
                listed.iter().map(|n| (&n.snapshot, n.status.as_str())),
                &thresholds,
            ),
            nodes: listed,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(spliced).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let empty = node_list_json(&[], &[], &thresholds).unwrap();
        assert_eq!(
            empty,
            serde_json::to_vec(&NodeList {
                summary: summarize(std::iter::empty(), &thresholds),
                nodes: Vec::new(),
            })
            .unwrap()
        );
    }
}
