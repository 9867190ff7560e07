//! `latest`: one row per (cluster, node), overwritten by each snapshot: the snapshot as
//! JSON and `last_seen`. Summaries are computed from the snapshots, not in SQL.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{from_millis, millis, During, StoreError};
use crate::model::NodeMetricsSnapshot;

pub(super) fn upsert(
    conn: &Connection,
    cluster: &str,
    snapshot: &NodeMetricsSnapshot,
    seen: DateTime<Utc>,
) -> Result<(), StoreError> {
    const OPERATION: &str = "writing a latest snapshot";
    let json = serde_json::to_string(snapshot).map_err(|source| StoreError::Json {
        operation: OPERATION,
        node: snapshot.node_name.clone(),
        source,
    })?;
    conn.prepare_cached(
        "INSERT INTO latest (cluster, node, ts, last_seen, snapshot)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (cluster, node) DO UPDATE SET
             ts = excluded.ts, last_seen = excluded.last_seen, snapshot = excluded.snapshot",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            cluster,
            snapshot.node_name,
            millis(snapshot.timestamp),
            millis(seen),
            json,
        ])
    })
    .during(OPERATION)?;
    Ok(())
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
    let mut stmt = conn
        .prepare_cached(
            "SELECT node, snapshot, last_seen FROM latest WHERE cluster = ?1 ORDER BY node",
        )
        .during(OPERATION)?;
    let rows = stmt
        .query_map(params![cluster], StoredRow::read)
        .during(OPERATION)?;
    rows.map(|row| row.during(OPERATION)?.decode(OPERATION))
        .collect()
}

pub(super) fn one(
    conn: &Connection,
    cluster: &str,
    node: &str,
) -> Result<Option<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
    const OPERATION: &str = "reading a node's latest snapshot";
    conn.prepare_cached(
        "SELECT node, snapshot, last_seen FROM latest WHERE cluster = ?1 AND node = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![cluster, node], StoredRow::read)
            .optional()
    })
    .during(OPERATION)?
    .map(|row| row.decode(OPERATION))
    .transpose()
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

    fn decode(
        self,
        operation: &'static str,
    ) -> Result<(NodeMetricsSnapshot, DateTime<Utc>), StoreError> {
        let snapshot = serde_json::from_str(&self.json).map_err(|source| StoreError::Json {
            operation,
            node: self.node,
            source,
        })?;
        Ok((snapshot, from_millis(operation, self.last_seen)?))
    }
}
