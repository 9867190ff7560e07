//! What the API needs of the store, as a trait: the handlers depend on these six calls,
//! not on SQLite, so they are tested against an in-memory fake and the real `Store`
//! forwards to its own methods.

use std::error::Error;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};

/// A node's last snapshot and when it was last seen.
pub type LatestSnapshot = (NodeMetricsSnapshot, DateTime<Utc>);

/// The store as the API shares it with the scraper. Calls are synchronous (SQLite).
pub type SharedStore = Arc<Mutex<dyn NodeStore>>;

/// A failure of the store, kept as its source error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NodeStoreError(#[source] Box<dyn Error + Send + Sync>);

impl NodeStoreError {
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        NodeStoreError(error.into())
    }
}

/// Latest snapshots and history per cluster and node. Same calls as `store::Store`.
pub trait NodeStore: Send {
    /// Records one scrape round (or one pushed snapshot): each snapshot with its
    /// last-seen time; history points are kept at most one per `sample_interval`.
    fn write_round(
        &mut self,
        cluster: &str,
        round: &[LatestSnapshot],
        sample_interval: Duration,
    ) -> Result<(), NodeStoreError>;
    /// Clusters that have data.
    fn clusters(&self) -> Result<Vec<String>, NodeStoreError>;
    /// Every node's last snapshot, sorted by node name.
    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, NodeStoreError>;
    fn latest_node(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<LatestSnapshot>, NodeStoreError>;
    /// A node's points with `from <= timestamp <= to`, ascending.
    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, NodeStoreError>;
    fn check_writable(&self) -> Result<(), NodeStoreError>;
}

/// Runs `work` on the blocking pool: SQLite calls block, and the runtime's threads
/// must not. A poisoned lock is taken over: the data lives in SQLite, whose
/// transactions roll back on their own if a writer panicked.
pub(super) async fn with_store<T, F>(store: &SharedStore, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn NodeStore) -> Result<T, ApiError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut *guard)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("store task failed: {error}")))?
}

/// The real store: each call forwards to the method of the same name.
impl NodeStore for crate::store::Store {
    fn write_round(
        &mut self,
        cluster: &str,
        round: &[LatestSnapshot],
        sample_interval: Duration,
    ) -> Result<(), NodeStoreError> {
        crate::store::Store::write_round(self, cluster, round, sample_interval)
            .map_err(NodeStoreError::new)
    }

    fn clusters(&self) -> Result<Vec<String>, NodeStoreError> {
        crate::store::Store::clusters(self).map_err(NodeStoreError::new)
    }

    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, NodeStoreError> {
        crate::store::Store::latest(self, cluster).map_err(NodeStoreError::new)
    }

    fn latest_node(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<LatestSnapshot>, NodeStoreError> {
        crate::store::Store::latest_node(self, cluster, node).map_err(NodeStoreError::new)
    }

    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, NodeStoreError> {
        crate::store::Store::history(self, cluster, node, from, to).map_err(NodeStoreError::new)
    }

    fn check_writable(&self) -> Result<(), NodeStoreError> {
        crate::store::Store::check_writable(self).map_err(NodeStoreError::new)
    }
}
