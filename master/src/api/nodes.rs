//! Handlers of the read routes: the cluster list, the cluster-scoped node routes of
//! atlhyper's design and the older `?cluster_id=` ones its shipped web client calls.
//! They read the path and query ([`Params`]), call `node_metrics`, and shape the
//! body; nothing else.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ApiError;
use super::history_shape::{bucketed, CurrentHistoryBody, HistoryShape};
use super::list_cache::{JsonBody, ListView};
use super::node_metrics::{self, NodeHistory, UnknownCluster};
use super::params::{self, Params};
use super::state::AppState;
use crate::model::{ClusterList, ListedNode, MetricsDataPoint};

/// History window when `hours` is not given.
pub const DEFAULT_HOURS: u32 = 24;

/// `GET /api/v2/clusters`: the clusters this master serves, read by both generations
/// of atlhyper's web page.
pub async fn clusters(State(state): State<Arc<AppState>>) -> Result<Json<ClusterList>, ApiError> {
    let clusters = node_metrics::clusters(&state).await?;
    Ok(Json(ClusterList {
        total: i64::try_from(clusters.len()).unwrap_or(i64::MAX),
        clusters,
    }))
}

/// `GET /api/v2/clusters/{cluster_id}/node-metrics`: `{"summary", "nodes"}`; an
/// unknown cluster is 404.
pub async fn cluster_list(
    State(state): State<Arc<AppState>>,
    Params { path: cluster, .. }: Params<String>,
) -> Result<JsonBody, ApiError> {
    node_metrics::list_body(
        &state,
        cluster,
        UnknownCluster::NotFound,
        ListView::NodeList,
    )
    .await
}

/// `GET /api/v2/clusters/{cluster_id}/node-metrics/{node_name}`
pub async fn cluster_node(
    State(state): State<Arc<AppState>>,
    Params {
        path: (cluster, node),
        ..
    }: Params<(String, String)>,
) -> Result<Json<ListedNode>, ApiError> {
    Ok(Json(node_metrics::node(&state, cluster, node).await?))
}

/// The body of the cluster-scoped history route.
#[derive(Debug, Serialize)]
pub struct HistoryBody {
    pub node_name: String,
    pub hours: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub history: Vec<MetricsDataPoint>,
}

/// `GET /api/v2/clusters/{cluster_id}/node-metrics/{node_name}/history?hours=N`
pub async fn cluster_history(
    State(state): State<Arc<AppState>>,
    Params {
        path: (cluster, node),
        query,
    }: Params<(String, String)>,
) -> Result<Json<HistoryBody>, ApiError> {
    let hours = hours(&query, state.settings.max_history_hours())?;
    let history = node_metrics::history(&state, cluster, node, hours).await?;
    Ok(Json(HistoryBody {
        node_name: history.node_name,
        hours: history.hours,
        start: history.start,
        end: history.end,
        history: history.points,
    }))
}

/// `GET /api/v2/node-metrics?cluster_id=X`; an unknown cluster is an empty list.
pub async fn legacy_list(
    State(state): State<Arc<AppState>>,
    Params { query, .. }: Params<()>,
) -> Result<JsonBody, ApiError> {
    let cluster = cluster_id(&query)?;
    node_metrics::list_body(&state, cluster, UnknownCluster::Empty, ListView::NodeList).await
}

/// `GET /api/v2/node-metrics/{node_name}?cluster_id=X`
pub async fn legacy_node(
    State(state): State<Arc<AppState>>,
    Params { path: node, query }: Params<String>,
) -> Result<Json<ListedNode>, ApiError> {
    let cluster = cluster_id(&query)?;
    Ok(Json(node_metrics::node(&state, cluster, node).await?))
}

/// The body of the older history route: `data`, and no `hours`.
#[derive(Debug, Serialize)]
pub struct LegacyHistoryBody {
    pub node_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub data: Vec<MetricsDataPoint>,
}

/// `GET /api/v2/node-metrics/{node_name}/history?cluster_id=X&hours=N`, in the shape
/// `--atlhyper-api` chooses.
pub async fn legacy_history(
    State(state): State<Arc<AppState>>,
    Params { path: node, query }: Params<String>,
) -> Result<Response, ApiError> {
    let shape = state.settings.history_shape;
    let cluster = params::cluster_id(
        &query,
        match shape {
            HistoryShape::V2 => MISSING_CLUSTER_ID,
            HistoryShape::Current => params::CLUSTER_ID_REQUIRED,
        },
    )?;
    let hours = hours(&query, state.settings.max_history_hours())?;
    let NodeHistory {
        node_name,
        start,
        end,
        points,
        ..
    } = node_metrics::history(&state, cluster, node, hours).await?;
    Ok(match shape {
        HistoryShape::V2 => Json(LegacyHistoryBody {
            node_name,
            start,
            end,
            data: points,
        })
        .into_response(),
        HistoryShape::Current => Json(CurrentHistoryBody {
            node_name,
            start,
            end,
            data: bucketed(&points, hours),
        })
        .into_response(),
    })
}

/// The v2 routes' 400 for a missing `cluster_id`.
const MISSING_CLUSTER_ID: &str = "missing query parameter cluster_id";

fn cluster_id(query: &HashMap<String, String>) -> Result<String, ApiError> {
    params::cluster_id(query, MISSING_CLUSTER_ID)
}

/// `hours`: a whole number from 1 to `max` (the retention), 24 when absent. Anything
/// else is refused rather than silently replaced.
fn hours(params: &HashMap<String, String>, max: u32) -> Result<u32, ApiError> {
    let Some(text) = params.get("hours") else {
        return Ok(DEFAULT_HOURS.min(max));
    };
    let hours = text
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u32>().ok())
        .flatten()
        .filter(|hours| (1..=max).contains(hours));
    hours.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "query parameter hours must be a whole number of hours from 1 to {max}, got {text:?}"
        ))
    })
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
    fn hours_are_whole_numbers_within_retention() {
        assert_eq!(hours(&query(&[]), 720).ok(), Some(24));
        assert_eq!(hours(&query(&[]), 12).ok(), Some(12));
        assert_eq!(hours(&query(&[("hours", "1")]), 720).ok(), Some(1));
        assert_eq!(hours(&query(&[("hours", "720")]), 720).ok(), Some(720));
        for bad in [
            "0",
            "721",
            "abc",
            "1e3",
            "-1",
            "+5",
            "1.5",
            "",
            " 2",
            "99999999999",
        ] {
            let error = hours(&query(&[("hours", bad)]), 720).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("hours") && message.contains("1 to 720"),
                "{bad}: {message}"
            );
        }
    }
}
