//! The bodies of the list routes, kept per cluster and view, so that a cluster of
//! 1,000 nodes (a 5 MB body) is serialised once per change, not once per request.
//!
//! A body is built from the store's latest snapshots in memory and the nodes'
//! statuses, and both change: the snapshots with every write, which the store's
//! generation counts, and the statuses with time alone — a node not seen for longer
//! than `offline_after` turns offline with no write at all. So a kept body holds while
//! (a) the cluster's generation is the one it was built from, and (b) no node's status
//! would have changed: the clock has not passed the moment the first online node would
//! turn offline (`valid_until`, the earliest `last_seen + offline_after` among them)
//! and has not gone back before the body was built (which could bring an offline node
//! back). Offline nodes cannot turn online without a write, which changes (a). So a
//! kept body never shows a status other than the one a fresh build would, at any
//! instant; a cache for a fixed second was not chosen, since it would show a node
//! online for up to that second after it went offline, and gains little: the bound
//! above already lasts until the next write in a steady cluster.
//!
//! Requests that miss at once build the body once: they take turns
//! ([`ListCache::building`]) and look again before building.
//!
//! Bounds: at most [`MAX_CACHED_BODIES`] bodies, only of clusters that have nodes
//! (any other id, e.g. an unknown `cluster_id`, is built each time and not kept); when
//! full, every body is dropped and the cache refills.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// The most bodies kept (3 views of about 20 clusters).
pub const MAX_CACHED_BODIES: usize = 64;

/// Which body of a cluster's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListView {
    /// `{"summary", "nodes"}` of the node-metrics list routes.
    NodeList,
    /// The observe summary route's envelope.
    ObserveSummary,
    /// The observe nodes route's envelope.
    ObserveNodes,
}

/// A body and when it holds.
#[derive(Debug, Clone)]
pub struct CachedBody {
    /// The generation of the cluster's latest snapshots it was built from.
    pub generation: u64,
    pub built_at: DateTime<Utc>,
    /// When the first node it shows online turns offline; `None`: none is online.
    pub valid_until: Option<DateTime<Utc>>,
    pub body: Bytes,
}

impl CachedBody {
    fn holds(&self, generation: u64, now: DateTime<Utc>) -> bool {
        self.generation == generation
            && now >= self.built_at
            && self.valid_until.is_none_or(|until| now <= until)
    }
}

#[derive(Default)]
pub struct ListCache {
    bodies: Mutex<HashMap<(String, ListView), CachedBody>>,
    /// Held while a body is built: requests that miss together build it once, and at
    /// most one body under construction is in memory.
    building: Mutex<()>,
}

impl ListCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, ListView), CachedBody>> {
        self.bodies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept body of `cluster`'s `view`, if it holds for `generation` at `now`.
    pub fn get(
        &self,
        cluster: &str,
        view: ListView,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Option<Bytes> {
        self.lock()
            .get(&(cluster.to_owned(), view))
            .filter(|cached| cached.holds(generation, now))
            .map(|cached| cached.body.clone())
    }

    /// The turn to build a body; a request that waited for it looks again first.
    pub fn building(&self) -> MutexGuard<'_, ()> {
        self.building.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `body` for `cluster`'s `view` (a generation of 0, a cluster with no
    /// nodes, is not kept).
    pub fn put(&self, cluster: &str, view: ListView, body: CachedBody) {
        if body.generation == 0 {
            return;
        }
        let mut bodies = self.lock();
        let key = (cluster.to_owned(), view);
        if bodies.len() >= MAX_CACHED_BODIES && !bodies.contains_key(&key) {
            bodies.clear();
        }
        bodies.insert(key, body);
    }
}

/// A JSON body already serialised, answered as `Json` answers.
#[derive(Debug)]
pub struct JsonBody(pub Bytes);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, JSON)], self.0).into_response()
    }
}

/// The content type axum's `Json` sets.
const JSON: &str = "application/json";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn body(
        generation: u64,
        built_at: &str,
        valid_until: Option<&str>,
        text: &'static str,
    ) -> CachedBody {
        CachedBody {
            generation,
            built_at: at(built_at),
            valid_until: valid_until.map(at),
            body: Bytes::from_static(text.as_bytes()),
        }
    }

    #[test]
    fn a_body_holds_for_its_generation_until_a_status_would_change() {
        let cache = ListCache::default();
        let built = "2026-11-22T10:00:00Z";
        cache.put(
            "c1",
            ListView::NodeList,
            body(7, built, Some("2026-11-22T10:00:15Z"), "a"),
        );
        let now = at(built) + TimeDelta::seconds(10);
        assert_eq!(cache.get("c1", ListView::NodeList, 7, now).unwrap(), "a");
        // Another view, another cluster, another generation: not this body.
        assert!(cache.get("c1", ListView::ObserveNodes, 7, now).is_none());
        assert!(cache.get("c2", ListView::NodeList, 7, now).is_none());
        assert!(cache.get("c1", ListView::NodeList, 8, now).is_none());
        // At valid_until a node is still online (offline is "longer than"); after, not.
        assert!(cache
            .get("c1", ListView::NodeList, 7, at("2026-11-22T10:00:15Z"))
            .is_some());
        assert!(cache
            .get("c1", ListView::NodeList, 7, at("2026-11-22T10:00:15.001Z"))
            .is_none());
        // A clock gone back before the build.
        assert!(cache
            .get("c1", ListView::NodeList, 7, at("2026-11-22T09:59:59Z"))
            .is_none());
        // No online node: holds until the next write.
        cache.put("c1", ListView::NodeList, body(9, built, None, "b"));
        assert_eq!(
            cache
                .get("c1", ListView::NodeList, 9, at("2027-01-01T00:00:00Z"))
                .unwrap(),
            "b"
        );
    }

    #[test]
    fn clusters_without_nodes_are_not_kept_and_the_cache_is_bounded() {
        let cache = ListCache::default();
        let built = "2026-11-22T10:00:00Z";
        cache.put("empty", ListView::NodeList, body(0, built, None, "x"));
        assert!(cache
            .get("empty", ListView::NodeList, 0, at(built))
            .is_none());
        for i in 0..MAX_CACHED_BODIES {
            cache.put(
                &format!("c{i}"),
                ListView::NodeList,
                body(1, built, None, "x"),
            );
        }
        assert_eq!(cache.lock().len(), MAX_CACHED_BODIES);
        // Replacing a kept one does not clear.
        cache.put("c0", ListView::NodeList, body(2, built, None, "y"));
        assert_eq!(cache.lock().len(), MAX_CACHED_BODIES);
        cache.put("one-more", ListView::NodeList, body(1, built, None, "z"));
        assert_eq!(cache.lock().len(), 1);
        assert_eq!(
            cache
                .get("one-more", ListView::NodeList, 1, at(built))
                .unwrap(),
            "z"
        );
    }
}
