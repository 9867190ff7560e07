//! The HTTP API: atlhyper's node-metrics routes (`master/docs/atlhyper-api.md`),
//! the push route of its per-node collector, health and readiness, and the master's
//! own metrics.
//!
//! - `nodes` — handlers of the read routes: the cluster list, and the node routes
//!   (cluster-scoped and `?cluster_id=`).
//! - `observe` — handlers of atlhyper's observe routes (`/api/v2/observe/metrics/*`):
//!   the same reads, as camelCase views in `{"message", "data"}`.
//! - `history_shape` — the two shapes of the `?cluster_id=` history route
//!   (`--atlhyper-api v2|current`), and the bucketing of the current one.
//! - `params` — the one extractor of their path and query.
//! - `cors` — CORS on every route, from `--cors.allowed-origin`.
//! - `node_metrics` — what they read: nodes with status, the summary, history; the
//!   list bodies built from the store's memory.
//! - `list_cache` — those bodies, kept per cluster until a write or a status change.
//! - `summary` — online/offline, primary disk and interface, the cluster summary.
//! - `push` — `POST /metrics/node`: its gate (token, push slots) and its handler.
//! - `auth` — bearer tokens, checked from the headers before the body: `--push-token`
//!   for pushes, `--api.read-token` for reads and `/metrics`.
//! - `health` — `/healthz`, `/readyz` (never waits for a busy writer), `/metrics`.
//! - `node_store` — the store calls the API needs, as a trait.
//! - `state` — what the handlers share: the store, [`ApiSettings`], own metrics.
//! - `error` — the one error type: a status and `{"error": "…"}`.
//!
//! Every response, errors included, is JSON (except `/metrics`): unknown paths are 404,
//! known paths with another method 405, with `{"error": …}` bodies.
//!
//! The modules depend on each other one way: this one on all of them for the routes;
//! the handlers on `state`, `error`, `node_store` and `params`; `error` on none of them.

mod auth;
mod cors;
mod error;
mod health;
mod history_shape;
mod list_cache;
mod node_metrics;
mod node_store;
mod nodes;
mod observe;
mod params;
mod push;
mod state;
mod summary;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::sync::Semaphore;

use crate::own_metrics::OwnMetrics;

pub use cors::{AllowedOrigins, OriginError};
pub use error::ApiError;
pub use history_shape::{bucket_seconds, HistoryShape};
pub use node_store::{LatestSnapshot, LatestView, NodeStore, SharedStore};
pub use push::{MAX_CONCURRENT_PUSHES, PUSH_BODY_LIMIT};
pub use state::{
    ApiSettings, AppState, DEFAULT_MAX_NODES, DEFAULT_WARN_CPU, DEFAULT_WARN_MEMORY,
    DEFAULT_WARN_TEMP,
};
pub use summary::WarningThresholds;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Probes: no token.
    Open,
    /// `--api.read-token`, when set.
    Read,
    /// `--push-token`, when set, and a push slot.
    Push,
}

/// The API's routes, with JSON 404 and 405 answers and CORS. The dashboard's routes
/// are merged in by `app::router`.
pub fn router(store: SharedStore, settings: ApiSettings, own_metrics: Arc<OwnMetrics>) -> Router {
    let state = Arc::new(AppState {
        store,
        settings,
        own_metrics: Arc::clone(&own_metrics),
        push_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_PUSHES)),
        lists: list_cache::ListCache::default(),
    });
    let cors = state.settings.allowed_origins.layer();
    let routes: [(&'static str, Access, MethodRouter<Arc<AppState>>); 16] = [
        ("/api/v2/clusters", Access::Read, get(nodes::clusters)),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics",
            Access::Read,
            get(nodes::cluster_list),
        ),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics/{node_name}",
            Access::Read,
            get(nodes::cluster_node),
        ),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics/{node_name}/history",
            Access::Read,
            get(nodes::cluster_history),
        ),
        (
            "/api/v2/node-metrics",
            Access::Read,
            get(nodes::legacy_list),
        ),
        (
            "/api/v2/node-metrics/{node_name}",
            Access::Read,
            get(nodes::legacy_node),
        ),
        (
            "/api/v2/node-metrics/{node_name}/history",
            Access::Read,
            get(nodes::legacy_history),
        ),
        (
            "/api/v2/observe/metrics/summary",
            Access::Read,
            get(observe::summary),
        ),
        (
            "/api/v2/observe/metrics/nodes",
            Access::Read,
            get(observe::nodes),
        ),
        (
            "/api/v2/observe/metrics/nodes/",
            Access::Read,
            get(observe::no_node_name),
        ),
        (
            "/api/v2/observe/metrics/nodes/{node_name}",
            Access::Read,
            get(observe::node),
        ),
        (
            "/api/v2/observe/metrics/nodes/{node_name}/series",
            Access::Read,
            get(observe::series),
        ),
        (
            "/metrics/node",
            Access::Push,
            post(push::push).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)),
        ),
        ("/healthz", Access::Open, get(health::healthz)),
        ("/readyz", Access::Open, get(health::readyz)),
        ("/metrics", Access::Read, get(health::metrics)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |router, (route, access, methods)| {
            let counted = RouteLabel {
                route,
                own_metrics: Arc::clone(&own_metrics),
            };
            // atlhyper's observe routes answer 405 in their own words.
            let methods = if route.starts_with(OBSERVE_ROUTES) {
                methods.fallback(observe::other_method)
            } else {
                methods.fallback(method_not_allowed)
            };
            // The token is checked before the route's extractors read anything.
            let methods = match access {
                Access::Open => methods,
                Access::Read => methods.layer(middleware::from_fn_with_state(
                    Arc::clone(&state),
                    auth::reads,
                )),
                Access::Push => methods.layer(middleware::from_fn_with_state(
                    Arc::clone(&state),
                    push::gate,
                )),
            };
            router.route(
                route,
                methods.layer(middleware::from_fn_with_state(counted, count_request)),
            )
        })
        .fallback(not_found)
        .layer(cors)
        .with_state(state)
}

/// The prefix of atlhyper's observe routes.
const OBSERVE_ROUTES: &str = "/api/v2/observe/";

/// Requests to paths no route matches are counted under this label, so scanners
/// cannot create a series per path.
const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone)]
struct RouteLabel {
    route: &'static str,
    own_metrics: Arc<OwnMetrics>,
}

async fn count_request(State(label): State<RouteLabel>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    label
        .own_metrics
        .record_request(label.route, response.status().as_u16());
    response
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found(State(state): State<Arc<AppState>>, request: Request) -> ApiError {
    state
        .own_metrics
        .record_request(UNMATCHED_ROUTE, axum::http::StatusCode::NOT_FOUND.as_u16());
    ApiError::NotFound(format!("no route for {}", request.uri().path()))
}
