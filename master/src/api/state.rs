//! What every handler shares: the store, the API's settings, the master's own metrics
//! and the kept list bodies.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::cors::AllowedOrigins;
use super::history_shape::HistoryShape;
use super::list_cache::ListCache;
use super::node_store::SharedStore;
use super::summary::WarningThresholds;
use crate::admission::{Admission, CmdlinePolicy};
use crate::own_metrics::OwnMetrics;
use crate::store::PushRules;

/// Default warning thresholds, as atlhyper_web counts warning nodes.
pub const DEFAULT_WARN_CPU: f64 = 80.0;
pub const DEFAULT_WARN_MEMORY: f64 = 80.0;
pub const DEFAULT_WARN_TEMP: f64 = 75.0;

/// Default `--max-nodes` (the store's, which loads at most that many nodes).
pub const DEFAULT_MAX_NODES: usize = crate::store::DEFAULT_MAX_NODES;

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
    /// When set (and not empty), the read routes, `/metrics` and the dashboard's data
    /// need `Authorization: Bearer <token>`.
    pub read_token: Option<String>,
    /// A push may add a node only while the store holds fewer nodes than this.
    pub max_nodes: usize,
    /// What is kept of the command lines of pushed processes.
    pub cmdlines: CmdlinePolicy,
    /// Passed to the store with pushed snapshots: at most one history point per node
    /// per this interval.
    pub sample_interval: Duration,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: AllowedOrigins,
    /// The body of `GET /api/v2/node-metrics/{node}/history` (`--atlhyper-api`).
    pub history_shape: HistoryShape,
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
            read_token: None,
            max_nodes: DEFAULT_MAX_NODES,
            cmdlines: CmdlinePolicy::Redact,
            sample_interval: scrape_interval,
            allowed_origins: AllowedOrigins::Any,
            history_shape: HistoryShape::V2,
        }
    }

    /// The largest `hours` of a history request: the retention in whole hours, at
    /// least 1.
    pub fn max_history_hours(&self) -> u32 {
        u32::try_from(self.retention.as_secs() / 3600)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// What a pushed snapshot must be.
    pub fn admission(&self) -> Admission {
        Admission {
            cmdlines: self.cmdlines,
            retention: self.retention,
        }
    }

    /// How a pushed snapshot is written.
    pub fn push_rules(&self) -> PushRules {
        PushRules {
            sample_interval: self.sample_interval,
            max_nodes: self.max_nodes,
        }
    }

    /// Whether reads need a token.
    pub fn reads_need_a_token(&self) -> bool {
        self.read_token.as_deref().is_some_and(|t| !t.is_empty())
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
    /// [`super::push::MAX_CONCURRENT_PUSHES`] permits.
    pub push_slots: Arc<Semaphore>,
    /// The list routes' bodies, kept while they hold.
    pub lists: ListCache,
}
