//! The database schema and its versioned migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] have been applied. A
//! release that changes the schema appends a migration; it never edits a shipped one,
//! since databases in the field already ran it.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration `i` takes the schema from version `i` to version `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: latest snapshots, raw history, hourly rollups.
    //
    // Every time is an INTEGER of milliseconds since the Unix epoch (UTC), so windows
    // compare instants, never text. The metric columns are those of a history point
    // (`history_point`), in the same order in every table.
    "
    CREATE TABLE latest (
        cluster       TEXT    NOT NULL,
        node          TEXT    NOT NULL,
        ts            INTEGER NOT NULL, -- the snapshot's own timestamp
        last_seen     INTEGER NOT NULL, -- when the master last received it
        cpu_usage     REAL    NOT NULL,
        memory_usage  REAL    NOT NULL,
        disk_usage    REAL    NOT NULL,
        disk_io_read  REAL    NOT NULL,
        disk_io_write REAL    NOT NULL,
        network_rx    REAL    NOT NULL,
        network_tx    REAL    NOT NULL,
        cpu_temp      REAL    NOT NULL,
        load_1        REAL    NOT NULL,
        snapshot      TEXT    NOT NULL, -- NodeMetricsSnapshot as JSON
        PRIMARY KEY (cluster, node)
    ) WITHOUT ROWID;
    CREATE INDEX latest_by_last_seen ON latest (last_seen);

    CREATE TABLE history (
        cluster       TEXT    NOT NULL,
        node          TEXT    NOT NULL,
        ts            INTEGER NOT NULL,
        cpu_usage     REAL    NOT NULL,
        memory_usage  REAL    NOT NULL,
        disk_usage    REAL    NOT NULL,
        disk_io_read  REAL    NOT NULL,
        disk_io_write REAL    NOT NULL,
        network_rx    REAL    NOT NULL,
        network_tx    REAL    NOT NULL,
        cpu_temp      REAL    NOT NULL,
        load_1        REAL    NOT NULL,
        PRIMARY KEY (cluster, node, ts)
    ) WITHOUT ROWID;
    -- Retention and rollup select by time across all nodes.
    CREATE INDEX history_by_ts ON history (ts);

    -- Raw points older than a week, rolled into one row per node and hour. `ts` is the
    -- start of the hour; `samples` counts the raw points, so a late point can be merged
    -- into an existing hour as a weighted average.
    CREATE TABLE history_hourly (
        cluster           TEXT    NOT NULL,
        node              TEXT    NOT NULL,
        ts                INTEGER NOT NULL,
        samples           INTEGER NOT NULL,
        cpu_usage_avg     REAL    NOT NULL,
        cpu_usage_max     REAL    NOT NULL,
        memory_usage_avg  REAL    NOT NULL,
        memory_usage_max  REAL    NOT NULL,
        disk_usage_avg    REAL    NOT NULL,
        disk_usage_max    REAL    NOT NULL,
        disk_io_read_avg  REAL    NOT NULL,
        disk_io_write_avg REAL    NOT NULL,
        network_rx_avg    REAL    NOT NULL,
        network_tx_avg    REAL    NOT NULL,
        cpu_temp_avg      REAL    NOT NULL,
        cpu_temp_max      REAL    NOT NULL,
        load_1_avg        REAL    NOT NULL,
        PRIMARY KEY (cluster, node, ts)
    ) WITHOUT ROWID;
    CREATE INDEX history_hourly_by_ts ON history_hourly (ts);

    -- Written and rolled back by the readiness probe; never holds a row.
    CREATE TABLE write_probe (id INTEGER PRIMARY KEY);
    ",
    // 2: `latest` keeps the snapshot and when it was seen, nothing else. Its metric
    // columns were written every round and never read: summaries are computed from
    // the snapshots.
    "
    ALTER TABLE latest DROP COLUMN cpu_usage;
    ALTER TABLE latest DROP COLUMN memory_usage;
    ALTER TABLE latest DROP COLUMN disk_usage;
    ALTER TABLE latest DROP COLUMN disk_io_read;
    ALTER TABLE latest DROP COLUMN disk_io_write;
    ALTER TABLE latest DROP COLUMN network_rx;
    ALTER TABLE latest DROP COLUMN network_tx;
    ALTER TABLE latest DROP COLUMN cpu_temp;
    ALTER TABLE latest DROP COLUMN load_1;
    ",
    // 3: where each latest snapshot came from. A scraped node is authoritative: a push
    // may not take its name. Rows of earlier releases are taken as pushed (their source
    // is unknown), and the next scrape round marks its nodes as scraped.
    "
    ALTER TABLE latest ADD COLUMN source TEXT NOT NULL DEFAULT 'push'
        CHECK (source IN ('scrape', 'push'));
    ",
    // 4: the values atlhyper's per-node series (the observe routes) read beyond a
    // history point's, one column each (`store::series`); rows of earlier releases read 0.
    "
    ALTER TABLE history ADD COLUMN cpu_user REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN cpu_system REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN cpu_iowait REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN load_5 REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN load_15 REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN swap_usage REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN psi_cpu REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN psi_memory REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN psi_io REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN tcp_established REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN sockets_used REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN disk_io_util REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN net_rx_bps REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN net_tx_bps REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN net_rx_pkt REAL NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN net_tx_pkt REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN cpu_user_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN cpu_system_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN cpu_iowait_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN load_5_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN load_15_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN swap_usage_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN psi_cpu_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN psi_memory_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN psi_io_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN tcp_established_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN sockets_used_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN disk_io_util_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN net_rx_bps_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN net_tx_bps_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN net_rx_pkt_avg REAL NOT NULL DEFAULT 0;
    ALTER TABLE history_hourly ADD COLUMN net_tx_pkt_avg REAL NOT NULL DEFAULT 0;
    ",
];

/// The schema version this program writes.
pub(super) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to [`current_version`], one transaction per migration, so a
/// crash mid-migration leaves the previous version intact.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > current_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            known: current_version(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let failed = |source| StoreError::Migrate { version, source };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(version, "migrated the database schema");
    }
    Ok(())
}

pub(super) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Sql {
            operation: "reading the schema version",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn migrates_an_empty_file_and_reopens_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn()).unwrap(), current_version());
        let created = tables(&store.conn());
        assert_eq!(
            created,
            ["history", "history_hourly", "latest", "write_probe"]
        );
        drop(store);

        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn()).unwrap(), current_version());
        assert_eq!(tables(&store.conn()), created);
        let mode: String = store
            .conn()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap();
        stmt.query_map([table], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn versions_2_and_3_reshape_latest_and_keep_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.db");
        // A database of the first release, with one node in it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let snapshot = r#"{"node_name":"n1","cpu":{"usage_percent":12.5}}"#;
        conn.execute(
            "INSERT INTO latest VALUES ('c1', 'n1', 1000, 2000, 12.5, 1, 2, 3, 4, 5, 6, 7, 8, ?1)",
            [snapshot],
        )
        .unwrap();
        drop(conn);

        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn()).unwrap(), current_version());
        assert_eq!(
            columns(&store.conn(), "latest"),
            ["cluster", "node", "ts", "last_seen", "snapshot", "source"]
        );
        // Its source is unknown: taken as pushed, so a push may still update it.
        let source: String = store
            .conn()
            .query_row("SELECT source FROM latest", [], |row| row.get(0))
            .unwrap();
        assert_eq!(source, "push");
        let (node, seen) = store.latest_node("c1", "n1").unwrap().unwrap();
        assert_eq!(node.cpu.usage_percent, 12.5);
        assert_eq!(seen.timestamp_millis(), 2000);
        let check: String = store
            .conn()
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn refuses_a_schema_from_a_newer_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", current_version() + 1)
            .unwrap();
        drop(conn);
        let err = Store::open(&path)
            .err()
            .expect("a newer schema must not open");
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    }
}
