//! `latest` in memory: every node's last snapshot (decoded, and as the JSON it is
//! stored as), when it was last seen and where it came from. Reads are answered from
//! here, never from SQLite; the `latest` table is this map's copy on disk, written by
//! `Store::persist_latest` on a schedule, at shutdown, and at once for a node whose
//! status changes (see [`Put::write_through`]). The map is loaded from the table when
//! the store opens.
//!
//! Each entry carries a version (from one counter for the whole map) and the version
//! last written to disk: an entry is unsaved while they differ. A persist takes the
//! unsaved entries under the lock, writes them without it, and marks each saved at the
//! version it wrote, so a snapshot that arrives during the write stays unsaved.
//!
//! Each cluster carries a generation, the counter's value at its last change: a reader
//! that kept something built from a cluster's nodes knows it is still right while the
//! generation is the same. The counter only grows, so a cluster removed and created
//! again never repeats a generation.
//!
//! Each entry also remembers the time of a history point known to be stored near its
//! snapshots, so a write asks SQLite whether a point is due only when it may be
//! (`Store::write_round`). Cleanup forgets these times, since it deletes points.
//!
//! Bounds: a pushed node is added only while the map holds fewer than `--max-nodes`
//! ([`ResidentLatest::put`]); scraped nodes are as many as the targets. Each entry's
//! JSON is at most `MAX_STORED_SNAPSHOT_BYTES` (the store encodes before it puts).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Source, StoreError};
use crate::model::NodeMetricsSnapshot;

/// A node's latest snapshot as the store keeps it: shared, not copied, by readers.
#[derive(Debug, Clone)]
pub struct LatestNode {
    pub snapshot: Arc<NodeMetricsSnapshot>,
    /// `snapshot` as JSON, exactly as stored (at most `MAX_STORED_SNAPSHOT_BYTES`).
    pub json: Arc<str>,
    pub last_seen: DateTime<Utc>,
}

struct Entry {
    node: LatestNode,
    source: Source,
    version: u64,
    saved: u64,
    /// The time (ms) of a history point stored within the sample interval of recent
    /// snapshots, when known.
    near_point: Option<i64>,
}

#[derive(Default)]
struct ClusterNodes {
    generation: u64,
    nodes: BTreeMap<String, Entry>,
}

#[derive(Default)]
struct Clusters {
    by_id: BTreeMap<String, ClusterNodes>,
    /// The last version given out; versions and generations start at 1.
    counter: u64,
    count: usize,
}

impl Clusters {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// An entry not yet written as it is now.
pub(super) struct Unsaved {
    pub cluster: String,
    pub node: LatestNode,
    pub source: Source,
    pub version: u64,
}

/// What [`ResidentLatest::put`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Put {
    /// The entry's version after the put.
    pub version: u64,
    /// The node's status changed (it is new, it came back after being offline, or its
    /// source changed): write it now rather than at the next persist.
    pub write_through: bool,
    /// A history point may be due (none is known near this snapshot).
    pub point_may_be_due: bool,
}

/// Who may put a snapshot: the scraper always, a push under the limit and not over a
/// scraped node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    Scrape,
    Push { max_nodes: usize },
}

#[derive(Default)]
pub(super) struct ResidentLatest {
    clusters: Mutex<Clusters>,
}

impl ResidentLatest {
    fn lock(&self) -> MutexGuard<'_, Clusters> {
        self.clusters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a node as read from disk (saved).
    pub fn load(&self, cluster: String, node: LatestNode, source: Source) {
        let mut clusters = self.lock();
        let version = clusters.next();
        let nodes = clusters.by_id.entry(cluster).or_default();
        nodes.generation = version;
        let name = node.snapshot.node_name.clone();
        let fresh = nodes
            .nodes
            .insert(
                name,
                Entry {
                    node,
                    source,
                    version,
                    saved: version,
                    near_point: None,
                },
            )
            .is_none();
        if fresh {
            clusters.count += 1;
        }
    }

    /// Makes `node` the latest of its node in `cluster`, unsaved, if `admit` lets it.
    /// `offline_after` says when a node that comes back counts as a status change;
    /// `sample_interval` when a known history point is near enough.
    pub fn put(
        &self,
        cluster: &str,
        node: LatestNode,
        admit: Admit,
        offline_after: Duration,
        sample_interval: Duration,
    ) -> Result<Put, StoreError> {
        let mut clusters = self.lock();
        let name = node.snapshot.node_name.as_str();
        let previous = clusters
            .by_id
            .get(cluster)
            .and_then(|nodes| nodes.nodes.get(name));
        let source = match admit {
            Admit::Scrape => Source::Scrape,
            Admit::Push { max_nodes } => {
                match previous.map(|entry| entry.source) {
                    Some(Source::Scrape) => {
                        return Err(StoreError::NodeIsScraped {
                            node: name.to_owned(),
                        })
                    }
                    Some(Source::Push) => {}
                    None if clusters.count >= max_nodes => {
                        return Err(StoreError::NodeLimit {
                            node: name.to_owned(),
                            max_nodes,
                        })
                    }
                    None => {}
                }
                Source::Push
            }
        };
        let ts = node.snapshot.timestamp.timestamp_millis();
        let interval = i64::try_from(sample_interval.as_millis()).unwrap_or(i64::MAX);
        let (write_through, near_point) = match previous {
            None => (true, None),
            Some(entry) => {
                let away = node.last_seen.signed_duration_since(entry.node.last_seen);
                let came_back = away > TimeDelta::from_std(offline_after).unwrap_or(TimeDelta::MAX);
                (came_back || entry.source != source, entry.near_point)
            }
        };
        // A point at `p` stops a new one at `ts` when |ts − p| < interval
        // (`history::add_if_due`).
        let point_may_be_due = near_point.is_none_or(|p| ts.abs_diff(p) >= interval.unsigned_abs());
        let version = clusters.next();
        let nodes = clusters.by_id.entry(cluster.to_owned()).or_default();
        nodes.generation = version;
        let name = node.snapshot.node_name.clone();
        let added = match nodes.nodes.get_mut(&name) {
            Some(entry) => {
                entry.node = node;
                entry.source = source;
                entry.version = version;
                false
            }
            None => {
                nodes.nodes.insert(
                    name,
                    Entry {
                        node,
                        source,
                        version,
                        saved: 0,
                        near_point: None,
                    },
                );
                true
            }
        };
        if added {
            clusters.count += 1;
        }
        Ok(Put {
            version,
            write_through,
            point_may_be_due,
        })
    }

    /// Remembers that a history point at `ts` (ms) is stored for the node.
    pub fn note_point(&self, cluster: &str, node: &str, ts: i64) {
        if let Some(entry) = self
            .lock()
            .by_id
            .get_mut(cluster)
            .and_then(|nodes| nodes.nodes.get_mut(node))
        {
            entry.near_point = Some(ts);
        }
    }

    /// Every entry not saved as it is now.
    pub fn unsaved(&self) -> Vec<Unsaved> {
        let clusters = self.lock();
        clusters
            .by_id
            .iter()
            .flat_map(|(cluster, nodes)| {
                nodes
                    .nodes
                    .values()
                    .filter(|entry| entry.version != entry.saved)
                    .map(|entry| Unsaved {
                        cluster: cluster.clone(),
                        node: entry.node.clone(),
                        source: entry.source,
                        version: entry.version,
                    })
            })
            .collect()
    }

    /// Records that the node was written at `version`.
    pub fn mark_saved(&self, cluster: &str, node: &str, version: u64) {
        if let Some(entry) = self
            .lock()
            .by_id
            .get_mut(cluster)
            .and_then(|nodes| nodes.nodes.get_mut(node))
        {
            entry.saved = entry.saved.max(version);
        }
    }

    /// Removes the nodes last seen before `seen_before` or whose snapshot is dated
    /// after `dated_after` (the rules cleanup applies to the table), and forgets every
    /// known history point. Returns how many nodes went.
    pub fn remove_expired(&self, seen_before: DateTime<Utc>, dated_after: DateTime<Utc>) -> usize {
        let mut clusters = self.lock();
        let mut removed = 0;
        let mut changed = Vec::new();
        for (cluster, nodes) in &mut clusters.by_id {
            let before = nodes.nodes.len();
            nodes.nodes.retain(|_, entry| {
                entry.near_point = None;
                entry.node.last_seen >= seen_before && entry.node.snapshot.timestamp <= dated_after
            });
            if nodes.nodes.len() != before {
                removed += before - nodes.nodes.len();
                changed.push(cluster.clone());
            }
        }
        for cluster in changed {
            let generation = clusters.next();
            if let Some(nodes) = clusters.by_id.get_mut(&cluster) {
                nodes.generation = generation;
            }
        }
        clusters.by_id.retain(|_, nodes| !nodes.nodes.is_empty());
        clusters.count -= removed;
        removed
    }

    /// Clusters that have nodes, sorted.
    pub fn clusters(&self) -> Vec<String> {
        self.lock().by_id.keys().cloned().collect()
    }

    /// The cluster's nodes by name, and the generation they are of (0: no nodes).
    pub fn view(&self, cluster: &str) -> (u64, Vec<LatestNode>) {
        let clusters = self.lock();
        match clusters.by_id.get(cluster) {
            Some(nodes) => (
                nodes.generation,
                nodes
                    .nodes
                    .values()
                    .map(|entry| entry.node.clone())
                    .collect(),
            ),
            None => (0, Vec::new()),
        }
    }

    /// The generation of the cluster's nodes (0: no nodes).
    pub fn generation(&self, cluster: &str) -> u64 {
        self.lock()
            .by_id
            .get(cluster)
            .map_or(0, |nodes| nodes.generation)
    }

    pub fn one(&self, cluster: &str, node: &str) -> Option<LatestNode> {
        self.lock()
            .by_id
            .get(cluster)
            .and_then(|nodes| nodes.nodes.get(node))
            .map(|entry| entry.node.clone())
    }

    /// Nodes held, all clusters.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.lock().count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, snapshot};

    const SAMPLE: Duration = Duration::from_secs(300);
    const OFFLINE_AFTER: Duration = Duration::from_secs(15);

    fn node(name: &str, ts: &str, seen: &str) -> LatestNode {
        let snapshot = snapshot(name, at(ts), 1.0);
        LatestNode {
            json: serde_json::to_string(&snapshot).unwrap().into(),
            snapshot: Arc::new(snapshot),
            last_seen: at(seen),
        }
    }

    fn put(
        map: &ResidentLatest,
        cluster: &str,
        n: LatestNode,
        admit: Admit,
    ) -> Result<Put, StoreError> {
        map.put(cluster, n, admit, OFFLINE_AFTER, SAMPLE)
    }

    #[test]
    fn status_changes_are_written_through_and_the_rest_waits() {
        let map = ResidentLatest::default();
        let first = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(first.write_through && first.point_may_be_due);
        let next = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:00:05Z", "2026-11-22T10:00:05Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(!next.write_through);
        assert!(next.version > first.version);
        // 16 s away is longer than offline_after (15 s): it came back.
        let back = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:00:21Z", "2026-11-22T10:00:21Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(back.write_through);
        assert_eq!(map.count(), 1);
        assert_eq!(map.unsaved().len(), 1);
        assert_eq!(map.unsaved()[0].version, back.version);
        map.mark_saved("c1", "n1", next.version);
        assert_eq!(
            map.unsaved().len(),
            1,
            "saved at an older version: still unsaved"
        );
        map.mark_saved("c1", "n1", back.version);
        assert!(map.unsaved().is_empty());
    }

    #[test]
    fn a_known_point_within_the_sample_interval_is_not_asked_for_again() {
        let map = ResidentLatest::default();
        put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        map.note_point("c1", "n1", at("2026-11-22T10:00:00Z").timestamp_millis());
        let within = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:04:59Z", "2026-11-22T10:04:59Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(!within.point_may_be_due);
        let due = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:05:00Z", "2026-11-22T10:05:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(due.point_may_be_due);
        // Cleanup forgets known points.
        assert_eq!(
            map.remove_expired(at("2026-11-21T00:00:00Z"), at("2026-11-23T00:00:00Z")),
            0
        );
        let after = put(
            &map,
            "c1",
            node("n1", "2026-11-22T10:05:01Z", "2026-11-22T10:05:01Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(after.point_may_be_due);
    }

    #[test]
    fn pushes_are_refused_over_a_scraped_node_and_beyond_the_limit() {
        let map = ResidentLatest::default();
        let push = Admit::Push { max_nodes: 2 };
        put(
            &map,
            "c1",
            node("scraped", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert!(matches!(
            put(
                &map,
                "c1",
                node("scraped", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
                push
            ),
            Err(StoreError::NodeIsScraped { .. })
        ));
        put(
            &map,
            "c2",
            node("p1", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            push,
        )
        .unwrap();
        assert!(matches!(
            put(
                &map,
                "c1",
                node("p2", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
                push
            ),
            Err(StoreError::NodeLimit { max_nodes: 2, .. })
        ));
        // A known pushed node is still taken at the limit, and scrapes always are.
        put(
            &map,
            "c2",
            node("p1", "2026-11-22T10:00:05Z", "2026-11-22T10:00:05Z"),
            push,
        )
        .unwrap();
        put(
            &map,
            "c1",
            node("s2", "2026-11-22T10:00:05Z", "2026-11-22T10:00:05Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert_eq!(map.count(), 3);
        assert_eq!(map.clusters(), ["c1", "c2"]);
    }

    #[test]
    fn generations_change_with_every_write_and_removal() {
        let map = ResidentLatest::default();
        assert_eq!(map.generation("c1"), 0);
        put(
            &map,
            "c1",
            node("a", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        put(
            &map,
            "c1",
            node("b", "2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        let g1 = map.generation("c1");
        let (g, nodes) = map.view("c1");
        assert_eq!(g, g1);
        let names: Vec<&str> = nodes
            .iter()
            .map(|n| n.snapshot.node_name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        put(
            &map,
            "c2",
            node("x", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            Admit::Scrape,
        )
        .unwrap();
        assert_eq!(map.generation("c1"), g1, "another cluster's write");
        // a (seen 10:00) goes, b (seen 11:00) stays; c2's x goes and so does c2.
        assert_eq!(
            map.remove_expired(at("2026-11-22T10:30:00Z"), at("2026-11-23T00:00:00Z")),
            2
        );
        assert!(map.generation("c1") > g1);
        assert_eq!(map.generation("c2"), 0);
        assert_eq!(map.clusters(), ["c1"]);
        assert_eq!(map.count(), 1);
        assert!(map.one("c1", "a").is_none());
        assert_eq!(
            map.one("c1", "b").unwrap().last_seen,
            at("2026-11-22T11:00:00Z")
        );
        // Dated in the future.
        assert_eq!(
            map.remove_expired(at("2026-11-22T00:00:00Z"), at("2026-11-21T00:00:00Z")),
            1
        );
        assert!(map.clusters().is_empty());
    }
}
