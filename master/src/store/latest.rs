//! `latest`: one row per (cluster, node), overwritten by each snapshot: the snapshot as
//! JSON, the history-point values as columns (for summaries in SQL), and `last_seen`.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{finite, from_millis, millis, During, StoreError};
use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};

pub(super) fn upsert(
    conn: &Connection,
    cluster: &str,
    snapshot: &NodeMetricsSnapshot,
    point: &MetricsDataPoint,
    seen: DateTime<Utc>,
) -> Result<(), StoreError> {
    const OPERATION: &str = "writing a latest snapshot";
    let json = encode(snapshot).map_err(|source| StoreError::Json {
        operation: OPERATION,
        node: snapshot.node_name.clone(),
        source,
    })?;
    conn.prepare_cached(
        "INSERT INTO latest (cluster, node, ts, last_seen, cpu_usage, memory_usage, disk_usage,
                             disk_io_read, disk_io_write, network_rx, network_tx, cpu_temp,
                             load_1, snapshot)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (cluster, node) DO UPDATE SET
             ts = excluded.ts, last_seen = excluded.last_seen,
             cpu_usage = excluded.cpu_usage, memory_usage = excluded.memory_usage,
             disk_usage = excluded.disk_usage, disk_io_read = excluded.disk_io_read,
             disk_io_write = excluded.disk_io_write, network_rx = excluded.network_rx,
             network_tx = excluded.network_tx, cpu_temp = excluded.cpu_temp,
             load_1 = excluded.load_1, snapshot = excluded.snapshot",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            cluster,
            snapshot.node_name,
            millis(snapshot.timestamp),
            millis(seen),
            finite(point.cpu_usage),
            finite(point.memory_usage),
            finite(point.disk_usage),
            finite(point.disk_io_read),
            finite(point.disk_io_write),
            finite(point.network_rx),
            finite(point.network_tx),
            finite(point.cpu_temp),
            finite(point.load_1),
            json,
        ])
    })
    .during(OPERATION)?;
    Ok(())
}

/// serde_json writes a NaN or infinity as `null`, which would then fail to read back
/// into an `f64`. The model has no optional fields, so every `null` is such a float;
/// it is stored as 0, like the columns (`finite`).
fn encode(snapshot: &NodeMetricsSnapshot) -> Result<String, serde_json::Error> {
    fn zero_nulls(value: &mut Value) {
        match value {
            Value::Null => *value = Value::from(0.0),
            Value::Array(items) => items.iter_mut().for_each(zero_nulls),
            Value::Object(fields) => fields.values_mut().for_each(zero_nulls),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(snapshot)?;
    zero_nulls(&mut value);
    serde_json::to_string(&value)
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
