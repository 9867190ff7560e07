//! `latest`: one row per (cluster, node): the snapshot as JSON, `last_seen`, and its
//! source (scrape or push). It is the copy on disk of the map in memory (`resident`),
//! which answers every read: written when that map is persisted, read once when the
//! store opens.
//!
//! The JSON is at most [`MAX_STORED_SNAPSHOT_BYTES`]: [`encode`] refuses a larger one,
//! and a larger row left by an older release is deleted when the store opens
//! ([`drop_oversized`]), before anything reads it: in a WITHOUT ROWID table any seek
//! that passes such a row loads it whole. Loading skips oversized rows as well, and a
//! row that no longer decodes is skipped and logged: one bad row does not take the
//! whole list down.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::resident::LatestNode;
use super::{from_millis, millis, During, Source, StoreError, MAX_STORED_SNAPSHOT_BYTES};
use crate::model::NodeMetricsSnapshot;

/// The snapshot as stored: JSON of at most [`MAX_STORED_SNAPSHOT_BYTES`].
pub(super) fn encode(snapshot: &NodeMetricsSnapshot) -> Result<String, StoreError> {
    let json = serde_json::to_string(snapshot).map_err(|source| StoreError::Json {
        operation: "encoding a snapshot",
        node: snapshot.node_name.clone(),
        source,
    })?;
    if json.len() > MAX_STORED_SNAPSHOT_BYTES {
        return Err(StoreError::TooLarge {
            node: snapshot.node_name.clone(),
            bytes: json.len(),
            max: MAX_STORED_SNAPSHOT_BYTES,
        });
    }
    Ok(json)
}

/// Writes `json` (the [`encode`]d `snapshot`) as the node's latest.
pub(super) fn upsert(
    conn: &Connection,
    cluster: &str,
    snapshot: &NodeMetricsSnapshot,
    json: &str,
    seen: DateTime<Utc>,
    source: Source,
) -> Result<(), StoreError> {
    const OPERATION: &str = "writing a latest snapshot";
    conn.prepare_cached(
        "INSERT INTO latest (cluster, node, ts, last_seen, snapshot, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (cluster, node) DO UPDATE SET
             ts = excluded.ts, last_seen = excluded.last_seen, snapshot = excluded.snapshot,
             source = excluded.source",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            cluster,
            snapshot.node_name,
            millis(snapshot.timestamp),
            millis(seen),
            json,
            source.as_str(),
        ])
    })
    .during(OPERATION)?;
    Ok(())
}

/// Deletes the rows whose snapshot is over [`MAX_STORED_SNAPSHOT_BYTES`]; returns how
/// many. They are blanked first: SQLite loads a row of a WITHOUT ROWID table whole to
/// delete it (46 MB for one such row), not to rewrite its value. No stored snapshot is
/// empty, so '' marks them.
pub(super) fn drop_oversized(conn: &Connection) -> Result<usize, StoreError> {
    let blanked = conn
        .execute(
            "UPDATE latest SET snapshot = '' WHERE octet_length(snapshot) > ?1",
            params![MAX_STORED_SNAPSHOT_BYTES],
        )
        .during("blanking oversized latest snapshots")?;
    conn.execute("DELETE FROM latest WHERE snapshot = ''", [])
        .during("deleting oversized latest snapshots")?;
    Ok(blanked)
}

/// Every stored node, decoded, with its cluster and source: the `max_nodes` seen most
/// recently (the rest stay on disk until cleanup removes them; a scraped node among them
/// comes back with its next scrape). Run after [`drop_oversized`], so no row read is
/// over the cap; a row that no longer decodes is skipped and logged.
pub(super) fn load(
    conn: &Connection,
    max_nodes: usize,
) -> Result<Vec<(String, LatestNode, Source)>, StoreError> {
    const OPERATION: &str = "loading the latest snapshots";
    let mut stmt = conn
        .prepare(
            "SELECT cluster, node, snapshot, last_seen, source FROM latest
              WHERE octet_length(snapshot) <= ?1
              ORDER BY last_seen DESC LIMIT ?2",
        )
        .during(OPERATION)?;
    let limit = i64::try_from(max_nodes).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![MAX_STORED_SNAPSHOT_BYTES, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                StoredRow {
                    node: row.get(1)?,
                    json: row.get(2)?,
                    last_seen: row.get(3)?,
                },
                row.get::<_, String>(4)?,
            ))
        })
        .during(OPERATION)?;
    let mut loaded = Vec::new();
    for row in rows {
        let (cluster, stored, source) = row.during(OPERATION)?;
        if let Some(node) = stored.decode(OPERATION)? {
            loaded.push((cluster, node, Source::parse(&source)));
        }
    }
    Ok(loaded)
}

struct StoredRow {
    node: String,
    json: String,
    last_seen: i64,
}

impl StoredRow {
    /// The snapshot with its JSON and last-seen time; `None` (logged) for JSON that
    /// does not decode as a snapshot of this release.
    fn decode(self, operation: &'static str) -> Result<Option<LatestNode>, StoreError> {
        let snapshot = match serde_json::from_str(&self.json) {
            Ok(snapshot) => snapshot,
            Err(source) => {
                let error = StoreError::Json {
                    operation,
                    node: self.node,
                    source,
                };
                tracing::error!(%error, "skipping a stored snapshot");
                return Ok(None);
            }
        };
        Ok(Some(LatestNode {
            snapshot: Arc::new(snapshot),
            json: self.json.into(),
            last_seen: from_millis(operation, self.last_seen)?,
        }))
    }
}
