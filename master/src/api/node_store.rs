//! What the API needs of the store, as a trait: the handlers depend on these six calls,
//! not on SQLite, so they are tested against an in-memory fake and the real `Store`
//! forwards to its own methods. Failures are the store's own [`StoreError`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinError;

use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use crate::store::{Store, StoreError};

/// A node's last snapshot and when it was last seen.
pub type LatestSnapshot = (NodeMetricsSnapshot, DateTime<Utc>);

/// The store as the API shares it with the scraper. Calls are synchronous (SQLite).
pub type SharedStore = Arc<Mutex<dyn NodeStore>>;

/// Latest snapshots and history per cluster and node. Same calls as `store::Store`.
pub trait NodeStore: Send {
    /// Records one scrape round (or one pushed snapshot): each snapshot with its
    /// last-seen time; history points are kept at most one per `sample_interval`.
    fn write_round(
        &mut self,
        cluster: &str,
        round: &[LatestSnapshot],
        sample_interval: Duration,
    ) -> Result<(), StoreError>;
    /// Clusters that have data.
    fn clusters(&self) -> Result<Vec<String>, StoreError>;
    /// Every node's last snapshot, sorted by node name.
    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, StoreError>;
    fn latest_node(&self, cluster: &str, node: &str) -> Result<Option<LatestSnapshot>, StoreError>;
    /// A node's points with `from <= timestamp <= to`, ascending.
    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, StoreError>;
    fn check_writable(&self) -> Result<(), StoreError>;
}

/// Runs `work` on the blocking pool: SQLite calls block, and the runtime's threads
/// must not. A poisoned lock is taken over: the data lives in SQLite, whose
/// transactions roll back on their own if a writer panicked. The caller's error type
/// says what a task that panicked becomes.
pub(super) async fn with_store<T, E, F>(store: &SharedStore, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<JoinError> + Send + 'static,
    F: FnOnce(&mut dyn NodeStore) -> Result<T, E> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut *guard)
    })
    .await?
}

/// The real store: each call forwards to the method of the same name.
impl NodeStore for Store {
    fn write_round(
        &mut self,
        cluster: &str,
        round: &[LatestSnapshot],
        sample_interval: Duration,
    ) -> Result<(), StoreError> {
        Store::write_round(self, cluster, round, sample_interval)
    }

    fn clusters(&self) -> Result<Vec<String>, StoreError> {
        Store::clusters(self)
    }

    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, StoreError> {
        Store::latest(self, cluster)
    }

    fn latest_node(&self, cluster: &str, node: &str) -> Result<Option<LatestSnapshot>, StoreError> {
        Store::latest_node(self, cluster, node)
    }

    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, StoreError> {
        Store::history(self, cluster, node, from, to)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        Store::check_writable(self)
    }
}
