//! `latest`: one row per (cluster, node), overwritten by each snapshot: the snapshot as
//! JSON, `last_seen`, and its source (scrape or push). Summaries are computed from the
//! snapshots, not in SQL.
//!
//! The JSON is at most [`MAX_STORED_SNAPSHOT_BYTES`]: [`encode`] refuses a larger one,
//! and a larger row left by an older release is deleted when the store opens
//! ([`drop_oversized`]), before anything reads it: in a WITHOUT ROWID table any seek
//! that passes such a row loads it whole. Reads skip oversized rows as well, and a row
//! that no longer decodes is skipped and logged: one bad row does not take the whole
//! list down.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

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

/// Where the node's latest snapshot came from; `None` for a node not in the store.
pub(super) fn source(
    conn: &Connection,
    cluster: &str,
    node: &str,
) -> Result<Option<Source>, StoreError> {
    const OPERATION: &str = "reading a node's source";
    let source: Option<String> = conn
        .prepare_cached("SELECT source FROM latest WHERE cluster = ?1 AND node = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![cluster, node], |row| row.get(0))
                .optional()
        })
        .during(OPERATION)?;
    Ok(source.map(|source| {
        if source == Source::Scrape.as_str() {
            Source::Scrape
        } else {
            Source::Push
        }
    }))
}

/// Nodes in the store, all clusters.
pub(super) fn count(conn: &Connection) -> Result<usize, StoreError> {
    const OPERATION: &str = "counting nodes";
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM latest")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .during(OPERATION)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

pub(super) fn clusters(conn: &Connection) -> Result<Vec<String>, StoreError> {
    const OPERATION: &str = "listing clusters";
    let mut stmt = conn
        .prepare_cached("SELECT DISTINCT cluster FROM latest ORDER BY cluster")
        .during(OPERATION)?;
    let rows = stmt.query_map([], |row| row.get(0)).during(OPERATION)?;
    rows.collect::<Result<_, _>>().during(OPERATION)
}

pub(super) fn all(
    conn: &Connection,
    cluster: &str,
) -> Result<Vec<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
    const OPERATION: &str = "reading the latest snapshots";
    // The nodes first, then each snapshot: a query that returns `snapshot` loads it
    // whole before any condition on its size is tested, while `octet_length` alone
    // reads the size from the record header.
    let mut stmt = conn
        .prepare_cached(
            "SELECT node FROM latest
              WHERE cluster = ?1 AND octet_length(snapshot) <= ?2
              ORDER BY node",
        )
        .during(OPERATION)?;
    let nodes = stmt
        .query_map(params![cluster, MAX_STORED_SNAPSHOT_BYTES], |row| {
            row.get::<_, String>(0)
        })
        .during(OPERATION)?
        .collect::<Result<Vec<_>, _>>()
        .during(OPERATION)?;
    let mut latest = Vec::with_capacity(nodes.len());
    for node in nodes {
        if let Some(row) = stored_row(conn, cluster, &node, OPERATION)? {
            latest.extend(row.decode(OPERATION)?);
        }
    }
    Ok(latest)
}

pub(super) fn one(
    conn: &Connection,
    cluster: &str,
    node: &str,
) -> Result<Option<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
    const OPERATION: &str = "reading a node's latest snapshot";
    let fits: Option<bool> = conn
        .prepare_cached(
            "SELECT octet_length(snapshot) <= ?3 FROM latest WHERE cluster = ?1 AND node = ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![cluster, node, MAX_STORED_SNAPSHOT_BYTES], |row| {
                row.get(0)
            })
            .optional()
        })
        .during(OPERATION)?;
    if fits != Some(true) {
        return Ok(None);
    }
    match stored_row(conn, cluster, node, OPERATION)? {
        Some(row) => row.decode(OPERATION),
        None => Ok(None),
    }
}

/// The stored row of one node, JSON not yet decoded.
fn stored_row(
    conn: &Connection,
    cluster: &str,
    node: &str,
    operation: &'static str,
) -> Result<Option<StoredRow>, StoreError> {
    conn.prepare_cached(
        "SELECT node, snapshot, last_seen FROM latest WHERE cluster = ?1 AND node = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![cluster, node], StoredRow::read)
            .optional()
    })
    .during(operation)
}

struct StoredRow {
    node: String,
    json: String,
    last_seen: i64,
}

impl StoredRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            node: row.get(0)?,
            json: row.get(1)?,
            last_seen: row.get(2)?,
        })
    }

    /// The snapshot and its last-seen time; `None` (logged) for JSON that does not
    /// decode as a snapshot of this release.
    fn decode(
        self,
        operation: &'static str,
    ) -> Result<Option<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
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
        Ok(Some((snapshot, from_millis(operation, self.last_seen)?)))
    }
}
