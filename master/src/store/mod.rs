//! Storage: every node's latest snapshot and its history, in one SQLite file.
//!
//! - `schema` — the tables and their versioned migrations (`PRAGMA user_version`).
//! - `latest` — one row per (cluster, node), overwritten by each snapshot.
//! - `history` — the sampled points, the primary disk/interface rules, and the query
//!   that picks raw or hourly resolution by window.
//! - `retention` — cleanup: drops what is past retention and rolls week-old points
//!   into hourly averages and maxima; [`run_cleanup`] runs it every interval.
//!
//! Durability: WAL with `synchronous=NORMAL`. A commit is a write into the WAL file, so
//! once `write_round` returns, a killed process (even `kill -9`) loses nothing, and
//! SQLite's recovery leaves a consistent file whatever instant the kill hit. Only a
//! power cut or kernel crash can drop the last commits before a checkpoint, and even
//! then the file stays consistent. `FULL` would fsync the WAL on every scrape round,
//! which wears SD cards and eMMC on the small boards this runs on, to protect a few
//! seconds of metrics.
//!
//! One connection, one writer: the caller shares the `Store` behind a mutex. Times are
//! stored as integer milliseconds since the epoch (UTC) and compared as integers.
//! Snapshots arrive finite (the snapshot builder makes them so, and JSON has no NaN),
//! and are stored as they are.

mod history;
mod latest;
mod retention;
mod schema;
#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior};

use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};

pub use history::{history_point, HourlyPoint, PeakValues};
pub use retention::CleanupReport;

/// Raw points are kept this long; older ones are rolled into hourly rows, and a
/// history window longer than this is answered hourly.
pub const RAW_HISTORY_SPAN: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a busy database is waited for (another process reading it, e.g. the
/// `sqlite3` shell or a backup) before an operation fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The WAL file is truncated back to this size after a checkpoint, so one large
/// cleanup does not leave a large file behind.
const WAL_SIZE_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("opening the database {path}: journal mode is {mode:?}, WAL could not be enabled")]
    NoWal { path: PathBuf, mode: String },
    #[error("migrating the database schema to version {version}: {source}")]
    Migrate {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("the database schema is version {found}, newer than this program knows ({known}); run a newer edge-master")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("{operation}: {source}")]
    Sql {
        operation: &'static str,
        source: rusqlite::Error,
    },
    #[error("{operation}: snapshot of node {node:?}: {source}")]
    Json {
        operation: &'static str,
        node: String,
        source: serde_json::Error,
    },
    #[error("{operation}: stored time {millis} ms is out of range")]
    BadTime {
        operation: &'static str,
        millis: i64,
    },
    #[error("checking the database is writable: it is open read-only")]
    ReadOnly,
}

/// Attaches the operation's name to a SQLite error.
trait During<T> {
    fn during(self, operation: &'static str) -> Result<T, StoreError>;
}

impl<T> During<T> for Result<T, rusqlite::Error> {
    fn during(self, operation: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql { operation, source })
    }
}

/// The master's database: one SQLite connection.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens or creates the database at `path`, switches it to WAL and migrates the
    /// schema to this release's version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_failed = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_failed)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_failed)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_failed)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal {
                path: path.to_owned(),
                mode,
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_failed)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
            .map_err(open_failed)?;
        Store::ready(conn)
    }

    /// A fresh database in memory, for tests of other modules.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Store::ready(conn)
    }

    fn ready(mut conn: Connection) -> Result<Store, StoreError> {
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// One scrape round (or one push), in one transaction: upserts `latest` for each
    /// snapshot (`last_seen` = its `DateTime`), and adds a history point for a node when
    /// its last point is at least `sample_interval` older than the snapshot's timestamp.
    pub fn write_round(
        &mut self,
        cluster: &str,
        round: &[(NodeMetricsSnapshot, DateTime<Utc>)],
        sample_interval: Duration,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "writing a scrape round";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .during(OPERATION)?;
        for (snapshot, seen) in round {
            latest::upsert(&tx, cluster, snapshot, *seen)?;
            history::add_if_due(&tx, cluster, &history_point(snapshot), sample_interval)?;
        }
        tx.commit().during(OPERATION)
    }

    /// Clusters that have at least one node in `latest`, sorted.
    pub fn clusters(&self) -> Result<Vec<String>, StoreError> {
        latest::clusters(&self.conn)
    }

    /// Every node of `cluster`: its last snapshot and when it was last seen, by node name.
    pub fn latest(
        &self,
        cluster: &str,
    ) -> Result<Vec<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
        latest::all(&self.conn, cluster)
    }

    pub fn latest_node(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
        latest::one(&self.conn, cluster, node)
    }

    /// A node's history in `[from, to]`, ascending. Windows up to [`RAW_HISTORY_SPAN`]
    /// get the stored points (raw, or hourly where they were already rolled up); longer
    /// windows get one point per hour, labelled with the hour's start.
    pub fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, StoreError> {
        if millis(to).saturating_sub(millis(from)) <= duration_millis(RAW_HISTORY_SPAN) {
            history::stored(&self.conn, cluster, node, from, to)
        } else {
            Ok(history::hourly(&self.conn, cluster, node, from, to)?
                .into_iter()
                .map(|hour| hour.mean)
                .collect())
        }
    }

    /// A node's history in `[from, to]` as hourly averages with their maxima, whatever
    /// the window (for views that show peaks).
    pub fn history_hourly(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourlyPoint>, StoreError> {
        history::hourly(&self.conn, cluster, node, from, to)
    }

    /// Drops history older than `retention` and `latest` rows not seen for
    /// `latest_retention`, and rolls raw points older than [`RAW_HISTORY_SPAN`] into
    /// hourly rows. One transaction.
    pub fn cleanup(
        &mut self,
        now: DateTime<Utc>,
        retention: Duration,
        latest_retention: Duration,
    ) -> Result<CleanupReport, StoreError> {
        retention::cleanup(&mut self.conn, now, retention, latest_retention)
    }

    /// For readiness: takes the write lock, writes a row, pushes it into the WAL file
    /// and rolls back. Fails when the file is read-only, locked by another writer
    /// beyond the busy timeout, or the disk refuses the write.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        const OPERATION: &str = "checking the database is writable";
        if self.conn.is_readonly("main").during(OPERATION)? {
            return Err(StoreError::ReadOnly);
        }
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .during(OPERATION)?;
        tx.execute("INSERT INTO write_probe (id) VALUES (NULL)", [])
            .during(OPERATION)?;
        // Without the flush the row would stay in the page cache and a full disk
        // would go unnoticed; the flushed frames are never committed.
        tx.cache_flush().during(OPERATION)?;
        tx.rollback().during(OPERATION)
    }
}

/// Cleanup now and every `interval` after, forever, on the store the scraper and the
/// API share (see [`Store::cleanup`]). A failure is logged; the next one tries again.
/// Blocking: run it on a thread of its own.
pub fn run_cleanup(
    store: &Mutex<Store>,
    interval: Duration,
    retention: Duration,
    latest_retention: Duration,
) -> ! {
    loop {
        let result = store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cleanup(Utc::now(), retention, latest_retention);
        if let Err(error) = result {
            tracing::error!(%error, "cleanup failed");
        }
        std::thread::sleep(interval.max(Duration::from_secs(1)));
    }
}

/// Milliseconds since the epoch, the unit of every stored time.
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(operation: &'static str, millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis).ok_or(StoreError::BadTime { operation, millis })
}

/// A duration in milliseconds, saturating (a retention of "forever" must not wrap).
fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {

    use super::test_support::{at, snapshot, temp_store};
    use super::*;

    #[test]
    fn write_round_upserts_latest_and_sets_last_seen() {
        let (_dir, mut store) = temp_store();
        let t0 = at("2026-11-22T10:00:00Z");
        let seen0 = at("2026-11-22T10:00:01Z");
        let round = [
            (snapshot("n2", t0, 10.0), seen0),
            (snapshot("n1", t0, 20.0), seen0),
        ];
        store
            .write_round("c1", &round, Duration::from_secs(300))
            .unwrap();
        store
            .write_round(
                "c2",
                &[(snapshot("x", t0, 1.0), seen0)],
                Duration::from_secs(300),
            )
            .unwrap();

        let latest = store.latest("c1").unwrap();
        let names: Vec<&str> = latest.iter().map(|(s, _)| s.node_name.as_str()).collect();
        assert_eq!(names, ["n1", "n2"]);
        assert_eq!(latest[0].0, round[1].0);
        assert_eq!(latest[0].1, seen0);

        let t1 = at("2026-11-22T10:00:15Z");
        let seen1 = at("2026-11-22T10:00:16Z");
        store
            .write_round(
                "c1",
                &[(snapshot("n1", t1, 30.0), seen1)],
                Duration::from_secs(300),
            )
            .unwrap();
        let (n1, seen) = store.latest_node("c1", "n1").unwrap().unwrap();
        assert_eq!(n1.cpu.usage_percent, 30.0);
        assert_eq!(n1.timestamp, t1);
        assert_eq!(seen, seen1);
        // The other node keeps its own row and time.
        assert_eq!(store.latest_node("c1", "n2").unwrap().unwrap().1, seen0);
        assert_eq!(store.latest("c1").unwrap().len(), 2);
        assert!(store.latest_node("c1", "n3").unwrap().is_none());
        assert!(store.latest_node("c2", "n1").unwrap().is_none());
        assert_eq!(store.clusters().unwrap(), ["c1", "c2"]);
    }

    #[test]
    fn persists_across_close_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.db");
        let t0 = at("2026-11-22T10:00:00Z");
        let mut store = Store::open(&path).unwrap();
        for i in 0..10 {
            let ts = t0 + chrono::Duration::minutes(5 * i);
            store
                .write_round(
                    "c1",
                    &[(snapshot("n1", ts, i as f64), ts)],
                    Duration::from_secs(300),
                )
                .unwrap();
        }
        let before = store
            .history("c1", "n1", t0, t0 + chrono::Duration::hours(1))
            .unwrap();
        let latest_before = store.latest("c1").unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        assert_eq!(
            store
                .history("c1", "n1", t0, t0 + chrono::Duration::hours(1))
                .unwrap(),
            before
        );
        assert_eq!(before.len(), 10);
        assert_eq!(store.latest("c1").unwrap(), latest_before);
    }

    #[test]
    fn check_writable_leaves_nothing_behind() {
        let (_dir, store) = temp_store();
        store.check_writable().unwrap();
        store.check_writable().unwrap();
        let rows: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM write_probe", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        Store::open_in_memory().unwrap().check_writable().unwrap();
    }

    #[test]
    fn check_writable_fails_on_a_read_only_connection() {
        let (dir, store) = temp_store();
        drop(store);
        let conn = Connection::open_with_flags(
            dir.path().join("master.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let store = Store { conn };
        assert!(matches!(store.check_writable(), Err(StoreError::ReadOnly)));
    }
}
