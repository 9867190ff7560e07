//! The read side of the API, shared by the cluster-scoped routes and the older
//! `?cluster_id=` ones: a cluster's nodes with their status and the summary, one node,
//! one node's history. Each read is one trip to the store's blocking thread.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::error::ApiError;
use super::node_store::{with_store, LatestSnapshot, NodeStore};
use super::state::AppState;
use super::summary::{node_status, summarize, OFFLINE, ONLINE};
use crate::model::{ClusterInfo, ClusterMetricsSummary, ListedNode, MetricsDataPoint};
use crate::store::series::SeriesColumn;
use crate::store::StoreError;

/// The body of the list routes.
#[derive(Debug, Serialize)]
pub struct NodeList {
    pub summary: ClusterMetricsSummary,
    pub nodes: Vec<ListedNode>,
}

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

pub async fn list(
    state: &AppState,
    cluster: String,
    unknown: UnknownCluster,
) -> Result<NodeList, ApiError> {
    let configured = state.settings.cluster_id.clone();
    let latest = with_store(&state.store, move |store| -> Result<_, ApiError> {
        let latest = store.latest(&cluster).map_err(ApiError::Store)?;
        if latest.is_empty() && unknown == UnknownCluster::NotFound {
            require_cluster(store, &cluster, &configured)?;
        }
        Ok(latest)
    })
    .await?;
    let nodes = listed_nodes(latest, Utc::now(), state);
    Ok(NodeList {
        summary: summarize(&nodes, &state.settings.warning_thresholds()),
        nodes,
    })
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
                let latest = store.latest(&id).map_err(ApiError::Store)?;
                Ok((id, latest))
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    let now = Utc::now();
    Ok(per_cluster
        .into_iter()
        .map(|(cluster_id, latest)| {
            let nodes = listed_nodes(latest, now, state);
            let online = nodes.iter().any(|node| node.status == ONLINE);
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

/// The nodes with their status, sorted by name.
fn listed_nodes(
    latest: Vec<LatestSnapshot>,
    now: DateTime<Utc>,
    state: &AppState,
) -> Vec<ListedNode> {
    let mut nodes: Vec<ListedNode> = latest
        .into_iter()
        .map(|latest| listed(latest, now, state))
        .collect();
    nodes.sort_by(|a, b| a.snapshot.node_name.cmp(&b.snapshot.node_name));
    nodes
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
