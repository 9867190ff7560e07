//! What the API needs of the store, as a trait: the handlers depend on these calls, not
//! on SQLite, so they are tested against an in-memory fake and the real `Store`
//! forwards to its own methods. Failures are the store's own [`StoreError`].
//!
//! The latest snapshots are also given shared, with a generation ([`LatestView`]), so
//! the list routes can keep the bodies they build (`list_cache`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinError;

use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use crate::store::series::SeriesColumn;
use crate::store::{LatestNode, PushRules, Store, StoreError};

/// A node's last snapshot and when it was last seen.
pub type LatestSnapshot = (NodeMetricsSnapshot, DateTime<Utc>);

/// Every node of a cluster, shared, by name.
#[derive(Debug, Clone, Default)]
pub struct LatestView {
    /// What the nodes are of: the same generation, the same nodes. `None` when the
    /// store tracks none; then nothing built from them may be kept.
    pub generation: Option<u64>,
    pub nodes: Vec<LatestNode>,
}

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
    /// Every node's last snapshot, shared, with its JSON, and their generation. By
    /// default made from [`NodeStore::latest`], with no generation.
    fn latest_view(&self, cluster: &str) -> Result<LatestView, StoreError> {
        let nodes = self
            .latest(cluster)?
            .into_iter()
            .map(|(snapshot, last_seen)| {
                let json = serde_json::to_string(&snapshot).map_err(|source| StoreError::Json {
                    operation: "encoding a snapshot",
                    node: snapshot.node_name.clone(),
                    source,
                })?;
                Ok(LatestNode {
                    snapshot: Arc::new(snapshot),
                    json: json.into(),
                    last_seen,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(LatestView {
            generation: None,
            nodes,
        })
    }
    /// The generation [`NodeStore::latest_view`] would give now, without reading the
    /// nodes; `None` when the store tracks none.
    fn latest_generation(&self, _cluster: &str) -> Option<u64> {
        None
    }
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

    fn latest_view(&self, cluster: &str) -> Result<LatestView, StoreError> {
        let (generation, nodes) = Store::latest_view(self, cluster);
        Ok(LatestView {
            generation: Some(generation),
            nodes,
        })
    }

    fn latest_generation(&self, cluster: &str) -> Option<u64> {
        Some(Store::latest_generation(self, cluster))
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
