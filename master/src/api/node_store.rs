//! What the API needs of the store, as a trait: the handlers depend on these calls, not
//! on SQLite, so they are tested against an in-memory fake and the real `Store`
//! forwards to its own methods. Failures are the store's own [`StoreError`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinError;

use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use crate::store::series::SeriesColumn;
use crate::store::{PushRules, Store, StoreError};

/// A node's last snapshot and when it was last seen.
pub type LatestSnapshot = (NodeMetricsSnapshot, DateTime<Utc>);

/// The store as the API shares it with the scraper. Calls are synchronous (SQLite) and
/// take `&self`: the store keeps its own writer and readers apart, so a read never
/// waits for a write.
pub type SharedStore = Arc<dyn NodeStore>;

/// Latest snapshots and history per cluster and node. Same calls as `store::Store`.
pub trait NodeStore: Send + Sync {
    /// Records one pushed snapshot, seen at `seen`, under `rules`.
    fn push(
        &self,
        cluster: &str,
        snapshot: &NodeMetricsSnapshot,
        seen: DateTime<Utc>,
        rules: &PushRules,
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
    /// A node's values of one stored series with `from <= timestamp <= to`, ascending.
    fn series(
        &self,
        cluster: &str,
        node: &str,
        column: &'static SeriesColumn,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError>;
    /// Whether the store takes writes, answered without waiting for a busy writer.
    fn check_writable(&self) -> Result<(), StoreError>;
}

/// Runs `work` on the blocking pool: SQLite calls block, and the runtime's threads
/// must not. The caller's error type says what a task that panicked becomes.
pub(super) async fn with_store<T, E, F>(store: &SharedStore, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<JoinError> + Send + 'static,
    F: FnOnce(&dyn NodeStore) -> Result<T, E> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || work(&*store)).await?
}

/// The real store: each call forwards to the method of the same name.
impl NodeStore for Store {
    fn push(
        &self,
        cluster: &str,
        snapshot: &NodeMetricsSnapshot,
        seen: DateTime<Utc>,
        rules: &PushRules,
    ) -> Result<(), StoreError> {
        Store::push(self, cluster, snapshot, seen, rules)
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

    fn series(
        &self,
        cluster: &str,
        node: &str,
        column: &'static SeriesColumn,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
        Store::series(self, cluster, node, column, from, to)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        Store::check_writable(self)
    }
}
