//! The HTTP API: atlhyper's node-metrics routes (`master/docs/atlhyper-api.md`),
//! the push route of its per-node collector, health and readiness, and the master's
//! own metrics.
//!
//! - `nodes` — handlers of the read routes: the cluster list, and the node routes
//!   (cluster-scoped and `?cluster_id=`).
//! - `cors` — CORS on every route, from `--cors.allowed-origin`.
//! - `node_metrics` — what they read: nodes with status, the summary, history.
//! - `summary` — online/offline, primary disk and interface, the cluster summary.
//! - `push` — `POST /metrics/node`.
//! - `health` — `/healthz`, `/readyz`, `/metrics`.
//! - `own_metrics` — the master's own counters, shared with the scraper.
//! - `node_store` — the store calls the API needs, as a trait.
//! - `error` — the one error type: a status and `{"error": "…"}`.
//!
//! Every response, errors included, is JSON (except `/metrics`): unknown paths are 404,
//! known paths with another method 405, with `{"error": …}` bodies.

mod cors;
mod error;
mod health;
mod node_metrics;
mod node_store;
mod nodes;
mod own_metrics;
mod push;
mod summary;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

pub use cors::{AllowedOrigins, OriginError};
pub use error::ApiError;
pub use node_store::{LatestSnapshot, NodeStore, NodeStoreError, SharedStore};
pub use own_metrics::{OwnMetrics, TEXT_FORMAT};
pub use push::PUSH_BODY_LIMIT;
pub use summary::WarningThresholds;

/// Default warning thresholds, as atlhyper_web counts warning nodes.
pub const DEFAULT_WARN_CPU: f64 = 80.0;
pub const DEFAULT_WARN_MEMORY: f64 = 80.0;
pub const DEFAULT_WARN_TEMP: f64 = 75.0;

/// How the API behaves; set from the master's flags.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The cluster this master serves: pushed snapshots go there, and it exists (with
    /// an empty list) before its first snapshot.
    pub cluster_id: String,
    /// How long history is kept: `hours` may go up to this many whole hours.
    pub retention: Duration,
    /// A node not seen for longer than this is `offline`.
    pub offline_after: Duration,
    /// Warning thresholds (`>=`): CPU %, memory %, CPU temperature °C.
    pub warn_cpu: f64,
    pub warn_memory: f64,
    pub warn_temp: f64,
    /// When set (and not empty), pushes need `Authorization: Bearer <token>`.
    pub push_token: Option<String>,
    /// Passed to `write_round` for pushed snapshots: at most one history point per node
    /// per this interval.
    pub sample_interval: Duration,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: AllowedOrigins,
}

impl ApiSettings {
    /// Defaults for a master scraping every `scrape_interval`: offline after three
    /// missed scrapes, one history point per scrape, thresholds 80 / 80 / 75, no token.
    pub fn new(cluster_id: String, retention: Duration, scrape_interval: Duration) -> ApiSettings {
        ApiSettings {
            cluster_id,
            retention,
            offline_after: scrape_interval.saturating_mul(3),
            warn_cpu: DEFAULT_WARN_CPU,
            warn_memory: DEFAULT_WARN_MEMORY,
            warn_temp: DEFAULT_WARN_TEMP,
            push_token: None,
            sample_interval: scrape_interval,
            allowed_origins: AllowedOrigins::Any,
        }
    }

    /// The largest `hours` of a history request: the retention in whole hours, at
    /// least 1.
    pub fn max_history_hours(&self) -> u32 {
        u32::try_from(self.retention.as_secs() / 3600)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    pub fn warning_thresholds(&self) -> WarningThresholds {
        WarningThresholds {
            cpu_percent: self.warn_cpu,
            memory_percent: self.warn_memory,
            cpu_temp: self.warn_temp,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: SharedStore,
    pub settings: ApiSettings,
    pub own_metrics: Arc<OwnMetrics>,
}

/// All routes. Serve with `axum::serve(listener, router(…))`.
pub fn router(store: SharedStore, settings: ApiSettings, own_metrics: Arc<OwnMetrics>) -> Router {
    let state = Arc::new(AppState {
        store,
        settings,
        own_metrics: Arc::clone(&own_metrics),
    });
    let cors = state.settings.allowed_origins.layer();
    let routes: [(&'static str, MethodRouter<Arc<AppState>>); 11] = [
        ("/api/v2/clusters", get(nodes::clusters)),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics",
            get(nodes::cluster_list),
        ),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics/{node_name}",
            get(nodes::cluster_node),
        ),
        (
            "/api/v2/clusters/{cluster_id}/node-metrics/{node_name}/history",
            get(nodes::cluster_history),
        ),
        ("/api/v2/node-metrics", get(nodes::legacy_list)),
        ("/api/v2/node-metrics/{node_name}", get(nodes::legacy_node)),
        (
            "/api/v2/node-metrics/{node_name}/history",
            get(nodes::legacy_history),
        ),
        (
            "/metrics/node",
            post(push::push).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)),
        ),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(health::metrics)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |router, (route, methods)| {
            let counted = RouteLabel {
                route,
                own_metrics: Arc::clone(&own_metrics),
            };
            router.route(
                route,
                methods
                    .fallback(method_not_allowed)
                    .layer(middleware::from_fn_with_state(counted, count_request)),
            )
        })
        .merge(crate::web::routes(&state.settings))
        .fallback(not_found)
        .layer(cors)
        .with_state(state)
}

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
