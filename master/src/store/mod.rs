//! Storage: every node's latest snapshot and its history, in one SQLite file.
//!
//! - `schema` — the tables and their versioned migrations (`PRAGMA user_version`).
//! - `connections` — one writer, a few readers: reads never queue behind a write.
//! - `resident` — every node's latest snapshot in memory, which answers every read of
//!   it, with what is not yet on disk and a generation per cluster.
//! - `latest` — its copy on disk: one row per (cluster, node), with where it came from
//!   (a scrape or a push) and a hard cap on its size.
//! - `history` — the sampled points, the primary disk/interface rules, and the query
//!   that picks raw or hourly resolution by window.
//! - `series` — the extra history columns of atlhyper's per-node series (observe
//!   routes): one list drives their write, rollup and read.
//! - `retention` — cleanup: drops what is past retention (and what is dated in the
//!   future) and rolls week-old points into hourly averages and maxima; [`run_cleanup`]
//!   runs it every interval.
//!
//! Writing less: a node's latest snapshot changes every scrape, and rewriting a few KiB
//! of JSON per node every round was nearly all of what the master wrote (3 MB/s at
//! 1,000 nodes every 5 s, a worn SD card within months). So `latest` lives in memory
//! and is written to disk by [`Store::persist_latest`]: every `--latest.persist-interval`
//! ([`run_latest_persist`]), at shutdown (and when the store is dropped), before each
//! cleanup, and at once for a node whose status changes (its first snapshot, its
//! return after more than `offline_after` away, a change of source). History is
//! written as before, when a point is due, in the write that brings it. So a crash
//! loses at most one persist interval of `latest` — the nodes show their snapshot of
//! up to that long ago until their next scrape or push — and no history. The map is
//! loaded from the table when the store opens.
//!
//! Durability: WAL with `synchronous=NORMAL`. A commit is a write into the WAL file, so
//! once a commit returns (history as it comes, `latest` as of its last persist), a
//! killed process (even `kill -9`) loses none of it, and SQLite's recovery leaves a
//! consistent file whatever instant the kill hit. Only a power cut or
//! kernel crash can drop the last commits before a checkpoint, and even then the file
//! stays consistent. `FULL` would fsync the WAL on every scrape round, which wears SD
//! cards and eMMC on the small boards this runs on, to protect a few seconds of metrics.
//!
//! Bounds: a snapshot is stored only if its JSON is at most
//! [`MAX_STORED_SNAPSHOT_BYTES`], and rows over it (left by an older release) are
//! neither read nor kept. A write waits at most [`WRITE_WAIT`] for the database.
//!
//! Times are stored as integer milliseconds since the epoch (UTC) and compared as
//! integers. Snapshots arrive finite and within bounds (`admission` makes them so, and
//! JSON has no NaN), and are stored as they are.

mod connections;
mod history;
mod latest;
mod resident;
mod retention;
mod schema;
pub mod series;
#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior};

use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use connections::{ReaderPool, Readers, Writer};
use history::Due;
use resident::{Admit, Put, ResidentLatest};

pub use connections::{WriterState, MAX_READERS};
pub use history::{history_point, HourlyPoint, PeakValues};
pub use resident::LatestNode;
pub use retention::CleanupReport;

/// Default `--latest.persist-interval`: how often the latest snapshots in memory are
/// written to disk, and so the most a crash loses of them.
pub const DEFAULT_PERSIST_INTERVAL: Duration = Duration::from_secs(30);

/// Default `--max-nodes`: far more than one master scrapes, few enough that the store
/// and a list request stay small (each snapshot is at most 64 KiB stored).
pub const DEFAULT_MAX_NODES: usize = 5000;

/// Raw points are kept this long; older ones are rolled into hourly rows, and a
/// history window longer than this is answered hourly.
pub const RAW_HISTORY_SPAN: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest snapshot stored, as JSON. edge-exporter's snapshot of a small board with
/// its top 20 processes is about 6 KiB.
pub const MAX_STORED_SNAPSHOT_BYTES: usize = 64 * 1024;

/// How long a write (a scrape round, a push) waits in all: for the write before it,
/// then for a lock held by another process (the `sqlite3` shell, a backup).
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// How long a scrape round or a push should hold the writer: longer, it is waiting for
/// a lock, and readiness says so (without waiting for [`WRITE_WAIT`] to pass).
const WRITE_STALLED_AFTER: Duration = Duration::from_secs(2);

/// The same for a persist, which writes every node's snapshot at once (5,000 nodes of
/// 64 KiB at most: 320 MB).
const PERSIST_STALLED_AFTER: Duration = Duration::from_secs(10);

/// How long cleanup waits for the writer (it runs on its own thread and can wait for a
/// busy round), and how long it may take before readiness calls it stalled.
const CLEANUP_WAIT: Duration = Duration::from_secs(60);

/// How long the readiness probe waits for SQLite's write lock.
const PROBE_BUSY_TIMEOUT: Duration = Duration::from_millis(250);

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
    #[error("the writer is still busy with another write after {}ms", .waited.as_millis())]
    WriterBusy { waited: Duration },
    #[error("the writer has been busy with one write for {}s", .busy_for.as_secs())]
    WriterStalled { busy_for: Duration },
    #[error("the last write failed: {0}")]
    LastWriteFailed(String),
    /// A snapshot whose JSON is over [`MAX_STORED_SNAPSHOT_BYTES`].
    #[error("snapshot: node {node:?} is {bytes} bytes as stored, more than {max}")]
    TooLarge {
        node: String,
        bytes: usize,
        max: usize,
    },
    /// A push of a new node when the store holds `max_nodes` already.
    #[error("the master holds {max_nodes} nodes (--max-nodes); node {node:?} is not taken")]
    NodeLimit { node: String, max_nodes: usize },
    /// A push under the name of a node the master scrapes.
    #[error("node {node:?} is scraped by this master; a push may not replace it")]
    NodeIsScraped { node: String },
    /// The metrics backend a call is answered from (`--source.history=backend`) failed;
    /// the message names the query.
    #[error("the metrics backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// A refusal by the store's rules (size, node limit, a scraped node's name): the
    /// request was wrong, the database is fine.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::TooLarge { .. }
                | StoreError::NodeLimit { .. }
                | StoreError::NodeIsScraped { .. }
        )
    }

    /// The database or the writer was busy: trying again later may work.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::WriterBusy { .. } | StoreError::WriterStalled { .. } => true,
            StoreError::Sql { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
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

/// Where a node's latest snapshot came from. A scraped node is authoritative: a push
/// may not take its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Scrape,
    Push,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Scrape => "scrape",
            Source::Push => "push",
        }
    }

    /// The stored name; anything but `scrape` is a push, as before sources were kept.
    fn parse(stored: &str) -> Source {
        if stored == Source::Scrape.as_str() {
            Source::Scrape
        } else {
            Source::Push
        }
    }
}

/// How the store keeps the latest snapshots in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestRules {
    /// A node seen again after longer than this was offline: its snapshot is written
    /// to disk at once (the API's `offline_after`).
    pub offline_after: Duration,
    /// At most this many nodes are loaded from disk when the store opens, the most
    /// recently seen (`--max-nodes`).
    pub max_nodes: usize,
}

impl Default for LatestRules {
    /// Three missed scrapes at the default 5 s interval, and the default node limit.
    fn default() -> LatestRules {
        LatestRules {
            offline_after: Duration::from_secs(15),
            max_nodes: DEFAULT_MAX_NODES,
        }
    }
}

/// The rules a push is written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushRules {
    /// At most one history point per node per this interval.
    pub sample_interval: Duration,
    /// A push may add a node only while the store holds fewer (all clusters).
    pub max_nodes: usize,
}

/// What a scrape round wrote.
#[derive(Debug, Default)]
pub struct RoundReport {
    pub written: usize,
    /// Snapshots refused by the size cap, which the rest of the round does not share.
    pub refused: Vec<StoreError>,
}

/// The master's database: one writing connection, a pool of readers, and the latest
/// snapshots in memory.
pub struct Store {
    writer: Writer,
    readers: Readers,
    resident: ResidentLatest,
    rules: LatestRules,
}

impl Store {
    /// [`Store::open_with`] the default [`LatestRules`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, LatestRules::default())
    }

    /// Opens or creates the database at `path`, switches it to WAL, migrates the
    /// schema to this release's version and loads the latest snapshots.
    pub fn open_with(path: &Path, rules: LatestRules) -> Result<Store, StoreError> {
        let open_failed = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_failed)?;
        conn.busy_timeout(WRITE_WAIT).map_err(open_failed)?;
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
        Store::ready(conn, Readers::Pool(ReaderPool::new(path)), rules)
    }

    /// A fresh database in memory, for tests of other modules. Reads share the writer.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Store::ready(conn, Readers::Writer, LatestRules::default())
    }

    fn ready(
        mut conn: Connection,
        readers: Readers,
        rules: LatestRules,
    ) -> Result<Store, StoreError> {
        schema::migrate(&mut conn)?;
        // Before the first read: a seek past such a row would load it whole.
        let oversized = latest::drop_oversized(&conn)?;
        if oversized > 0 {
            tracing::warn!(
                oversized,
                max_bytes = MAX_STORED_SNAPSHOT_BYTES,
                "deleted latest snapshots over the size cap (written by an older release)"
            );
        }
        let resident = ResidentLatest::default();
        for (cluster, node, source) in latest::load(&conn, rules.max_nodes)? {
            resident.load(cluster, node, source);
        }
        Ok(Store {
            writer: Writer::new(conn),
            readers,
            resident,
            rules,
        })
    }

    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.readers {
            Readers::Pool(pool) => pool.read(work),
            Readers::Writer => work(&self.writer.conn()),
        }
    }

    /// One scrape round: each snapshot becomes its node's latest (`last_seen` = its
    /// `DateTime`, source: scrape) in memory, and a history point is added for a node
    /// that has none within `sample_interval` of the snapshot's timestamp. What must go
    /// to disk now (the points, the nodes whose status changed) goes in one
    /// transaction; the rest waits for [`Store::persist_latest`]. A snapshot over the
    /// size cap is left out and reported; the others are written. When the
    /// transaction fails, the snapshots are still the latest in memory (persisted
    /// later) and their points are tried again with the next write.
    pub fn write_round(
        &self,
        cluster: &str,
        round: &[(NodeMetricsSnapshot, DateTime<Utc>)],
        sample_interval: Duration,
    ) -> Result<RoundReport, StoreError> {
        let mut report = RoundReport::default();
        let mut now_due = Vec::new();
        for (snapshot, seen) in round {
            let node = match latest::encode(snapshot) {
                Ok(json) => LatestNode {
                    snapshot: Arc::new(snapshot.clone()),
                    json: json.into(),
                    last_seen: stored_time(*seen),
                },
                Err(error) => {
                    report.refused.push(error);
                    continue;
                }
            };
            let put = self.resident.put(
                cluster,
                node.clone(),
                Admit::Scrape,
                self.rules.offline_after,
                sample_interval,
            )?;
            report.written += 1;
            if put.write_through || put.point_may_be_due {
                now_due.push((node, put));
            }
        }
        self.write_now(
            "writing a scrape round",
            cluster,
            &now_due,
            Source::Scrape,
            sample_interval,
        )?;
        Ok(report)
    }

    /// One pushed snapshot, refused when it is over the size cap, when its node is one
    /// the master scrapes, or when it is a new node and the store holds
    /// `rules.max_nodes` already. Kept as [`Store::write_round`] keeps a scraped one.
    pub fn push(
        &self,
        cluster: &str,
        snapshot: &NodeMetricsSnapshot,
        seen: DateTime<Utc>,
        rules: &PushRules,
    ) -> Result<(), StoreError> {
        let node = LatestNode {
            json: latest::encode(snapshot)?.into(),
            snapshot: Arc::new(snapshot.clone()),
            last_seen: stored_time(seen),
        };
        let put = self.resident.put(
            cluster,
            node.clone(),
            Admit::Push {
                max_nodes: rules.max_nodes,
            },
            self.rules.offline_after,
            rules.sample_interval,
        )?;
        if put.write_through || put.point_may_be_due {
            self.write_now(
                "writing a pushed snapshot",
                cluster,
                &[(node, put)],
                Source::Push,
                rules.sample_interval,
            )?;
        }
        Ok(())
    }

    /// In one transaction: the nodes put with `write_through`, and the history points
    /// due of those put with `point_may_be_due`.
    fn write_now(
        &self,
        operation: &'static str,
        cluster: &str,
        nodes: &[(LatestNode, Put)],
        source: Source,
        sample_interval: Duration,
    ) -> Result<(), StoreError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut near_points = Vec::new();
        self.writer.write(WRITE_WAIT, WRITE_STALLED_AFTER, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .during(operation)?;
            for (node, put) in nodes {
                let snapshot = &*node.snapshot;
                if put.write_through {
                    latest::upsert(&tx, cluster, snapshot, &node.json, node.last_seen, source)?;
                }
                if put.point_may_be_due {
                    let point = history_point(snapshot);
                    match history::add_if_due(&tx, cluster, &point, sample_interval)? {
                        Due::Added => {
                            series::record(&tx, cluster, snapshot)?;
                            near_points.push((&snapshot.node_name, millis(snapshot.timestamp)));
                        }
                        Due::Near(ts) => near_points.push((&snapshot.node_name, ts)),
                    }
                }
            }
            tx.commit().during(operation)
        })?;
        for (node, put) in nodes {
            if put.write_through {
                self.resident
                    .mark_saved(cluster, &node.snapshot.node_name, put.version);
            }
        }
        for (node, ts) in near_points {
            self.resident.note_point(cluster, node, ts);
        }
        Ok(())
    }

    /// Writes the latest snapshots not yet on disk as they are now, in one
    /// transaction; returns how many. A snapshot that arrives meanwhile stays unsaved
    /// until the next persist.
    pub fn persist_latest(&self) -> Result<usize, StoreError> {
        const OPERATION: &str = "persisting the latest snapshots";
        let unsaved = self.resident.unsaved();
        if unsaved.is_empty() {
            return Ok(0);
        }
        self.writer
            .write(WRITE_WAIT, PERSIST_STALLED_AFTER, |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .during(OPERATION)?;
                for entry in &unsaved {
                    let node = &entry.node;
                    latest::upsert(
                        &tx,
                        &entry.cluster,
                        &node.snapshot,
                        &node.json,
                        node.last_seen,
                        entry.source,
                    )?;
                }
                tx.commit().during(OPERATION)
            })?;
        for entry in &unsaved {
            self.resident.mark_saved(
                &entry.cluster,
                &entry.node.snapshot.node_name,
                entry.version,
            );
        }
        Ok(unsaved.len())
    }

    /// Clusters that have at least one node, sorted (from memory).
    pub fn clusters(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.resident.clusters())
    }

    /// Every node of `cluster`: its last snapshot and when it was last seen, by node
    /// name (from memory, copied; [`Store::latest_view`] shares them).
    pub fn latest(
        &self,
        cluster: &str,
    ) -> Result<Vec<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
        let (_, nodes) = self.resident.view(cluster);
        Ok(nodes
            .into_iter()
            .map(|node| (NodeMetricsSnapshot::clone(&node.snapshot), node.last_seen))
            .collect())
    }

    pub fn latest_node(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<(NodeMetricsSnapshot, DateTime<Utc>)>, StoreError> {
        Ok(self
            .resident
            .one(cluster, node)
            .map(|node| (NodeMetricsSnapshot::clone(&node.snapshot), node.last_seen)))
    }

    /// Every node of `cluster` by name, shared, and the generation they are of: it
    /// changes with every write to the cluster and every removal from it, so what is
    /// built from them stays right while [`Store::latest_generation`] is the same.
    pub fn latest_view(&self, cluster: &str) -> (u64, Vec<LatestNode>) {
        self.resident.view(cluster)
    }

    /// The generation of `cluster`'s latest snapshots (0 while it has none).
    pub fn latest_generation(&self, cluster: &str) -> u64 {
        self.resident.generation(cluster)
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
        self.read(|conn| {
            if millis(to).saturating_sub(millis(from)) <= duration_millis(RAW_HISTORY_SPAN) {
                history::stored(conn, cluster, node, from, to)
            } else {
                Ok(history::hourly(conn, cluster, node, from, to)?
                    .into_iter()
                    .map(|hour| hour.mean)
                    .collect())
            }
        })
    }

    /// A node's values of one stored series in `[from, to]`, ascending (raw points,
    /// hourly averages where rolled up).
    pub fn series(
        &self,
        cluster: &str,
        node: &str,
        column: &series::SeriesColumn,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
        self.read(|conn| series::read(conn, cluster, node, column, from, to))
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
        self.read(|conn| history::hourly(conn, cluster, node, from, to))
    }

    /// Drops history older than `retention` or dated in the future, latest snapshots
    /// not seen for `latest_retention`, dated in the future or over the size cap, and
    /// rolls raw points older than [`RAW_HISTORY_SPAN`] into hourly rows. The unsaved
    /// snapshots are persisted first, so the table holds what memory does and the same
    /// rule removes the same nodes from both. One transaction, after the persist.
    pub fn cleanup(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
        latest_retention: Duration,
    ) -> Result<CleanupReport, StoreError> {
        // Should it fail, cleanup still holds: an unsaved node is one seen recently,
        // which the memory keeps and the next persist writes back.
        if let Err(error) = self.persist_latest() {
            tracing::warn!(%error, "persisting the latest snapshots before cleanup failed");
        }
        let report = self.writer.write(CLEANUP_WAIT, CLEANUP_WAIT, |conn| {
            retention::cleanup(conn, now, retention, latest_retention)
        })?;
        let seen_before =
            from_millis_saturating(millis(now).saturating_sub(duration_millis(latest_retention)));
        let dated_after = from_millis_saturating(
            millis(now).saturating_add(duration_millis(crate::admission::MAX_CLOCK_SKEW)),
        );
        self.resident.remove_expired(seen_before, dated_after);
        Ok(report)
    }

    /// For readiness, without waiting on a busy writer. When no write is under way:
    /// takes the write lock (waiting at most [`PROBE_BUSY_TIMEOUT`]), writes a row,
    /// pushes it into the WAL file and rolls back, failing when the file is read-only,
    /// locked by another process, or the disk refuses the write. When a write is under
    /// way: fails if the last write failed, or if this one has taken longer than it
    /// should ([`WRITE_STALLED_AFTER`] for a round or a push): it is waiting for a lock.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(probed) = self
            .writer
            .try_write(PROBE_BUSY_TIMEOUT, |conn| probe(conn))
        {
            return probed;
        }
        let state = self.writer.state();
        if let Some(failure) = state.last_failure.clone() {
            return Err(StoreError::LastWriteFailed(failure));
        }
        match state.stalled_for() {
            Some(busy_for) => Err(StoreError::WriterStalled { busy_for }),
            None => Ok(()),
        }
    }

    /// How the writer is doing, without waiting for it.
    pub fn writer_state(&self) -> WriterState {
        self.writer.state()
    }

    /// The writer's connection, for tests that look at the file.
    #[cfg(test)]
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.conn()
    }
}

/// Closing the store persists what is unsaved (a failure is logged).
impl Drop for Store {
    fn drop(&mut self) {
        match self.persist_latest() {
            Ok(0) => {}
            Ok(persisted) => tracing::info!(persisted, "latest snapshots persisted at close"),
            Err(error) => {
                tracing::error!(%error, "persisting the latest snapshots at close failed")
            }
        }
    }
}

/// Writes a row into the WAL file and rolls it back.
fn probe(conn: &Connection) -> Result<(), StoreError> {
    const OPERATION: &str = "checking the database is writable";
    if conn.is_readonly("main").during(OPERATION)? {
        return Err(StoreError::ReadOnly);
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .during(OPERATION)?;
    tx.execute("INSERT INTO write_probe (id) VALUES (NULL)", [])
        .during(OPERATION)?;
    // Without the flush the row would stay in the page cache and a full disk would go
    // unnoticed; the flushed frames are never committed.
    tx.cache_flush().during(OPERATION)?;
    tx.rollback().during(OPERATION)
}

/// Cleanup now and every `interval` after, forever, on the store the scraper and the
/// API share (see [`Store::cleanup`]). A failure is logged; the next one tries again.
/// Blocking: run it on a thread of its own.
pub fn run_cleanup(
    store: &Store,
    interval: Duration,
    retention: Duration,
    latest_retention: Duration,
) -> ! {
    loop {
        let started = Instant::now();
        if let Err(error) = store.cleanup(Utc::now(), retention, latest_retention) {
            tracing::error!(%error, "cleanup failed");
        }
        std::thread::sleep(
            interval
                .max(Duration::from_secs(1))
                .saturating_sub(started.elapsed()),
        );
    }
}

/// [`Store::persist_latest`] every `interval`, forever (a failure is logged; the next
/// one tries again). Blocking: run it on a thread of its own.
pub fn run_latest_persist(store: &Store, interval: Duration) -> ! {
    loop {
        std::thread::sleep(interval.max(Duration::from_secs(1)));
        match store.persist_latest() {
            Ok(persisted) => tracing::debug!(persisted, "latest snapshots persisted"),
            Err(error) => tracing::error!(%error, "persisting the latest snapshots failed"),
        }
    }
}

/// Milliseconds since the epoch, the unit of every stored time.
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(operation: &'static str, millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis).ok_or(StoreError::BadTime { operation, millis })
}

/// `time` as it is stored, in whole milliseconds: memory holds what a reload would
/// give, so the API answers the same before and after a restart.
fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    from_millis_saturating(millis(time))
}

/// The time of `millis`, clamped to the times chrono can hold.
fn from_millis_saturating(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
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
        let (_dir, store) = temp_store();
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
        let store = Store::open(&path).unwrap();
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

    /// The stored `latest` rows: (node, cpu usage of the stored snapshot, last_seen).
    fn stored_latest(store: &Store) -> Vec<(String, f64, i64)> {
        let conn = store.conn();
        let mut stmt = conn
            .prepare("SELECT node, snapshot, last_seen FROM latest ORDER BY cluster, node")
            .unwrap();
        let rows = stmt
            .query_map([], |row| {
                let json: String = row.get(1)?;
                let snapshot: NodeMetricsSnapshot = serde_json::from_str(&json).unwrap();
                Ok((row.get(0)?, snapshot.cpu.usage_percent, row.get(2)?))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn history_rows(store: &Store) -> i64 {
        store
            .conn()
            .query_row("SELECT COUNT(*) FROM history", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn latest_is_written_when_it_appears_and_when_persisted_not_every_round() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-22T10:00:00Z");
        let every_5s = |i: i64| t0 + chrono::Duration::seconds(5 * i);
        for i in 0..10 {
            store
                .write_round(
                    "c1",
                    &[(snapshot("n1", every_5s(i), i as f64), every_5s(i))],
                    Duration::from_secs(300),
                )
                .unwrap();
        }
        // The first snapshot went to disk at once (a new node); the rest wait.
        assert_eq!(stored_latest(&store), [("n1".to_owned(), 0.0, millis(t0))]);
        // Reads see the newest, from memory.
        let (n1, seen) = store.latest_node("c1", "n1").unwrap().unwrap();
        assert_eq!((n1.cpu.usage_percent, seen), (9.0, every_5s(9)));
        // History as before: one point in these 45 s.
        assert_eq!(history_rows(&store), 1);

        assert_eq!(store.persist_latest().unwrap(), 1);
        assert_eq!(
            stored_latest(&store),
            [("n1".to_owned(), 9.0, millis(every_5s(9)))]
        );
        assert_eq!(store.persist_latest().unwrap(), 0, "nothing left unsaved");

        // Back after more than offline_after (15 s) away: written at once.
        let back = every_5s(9) + chrono::Duration::seconds(60);
        store
            .write_round(
                "c1",
                &[(snapshot("n1", back, 50.0), back)],
                Duration::from_secs(300),
            )
            .unwrap();
        assert_eq!(
            stored_latest(&store),
            [("n1".to_owned(), 50.0, millis(back))]
        );
    }

    #[test]
    fn a_store_never_closed_keeps_its_history_and_the_last_persisted_latest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.db");
        let t0 = at("2026-11-22T10:00:00Z");
        let store = Store::open(&path).unwrap();
        for i in 0..12 {
            let ts = t0 + chrono::Duration::seconds(5 * i);
            let round: Vec<_> = ["a", "b"]
                .iter()
                .map(|node| (snapshot(node, ts, i as f64), ts))
                .collect();
            store
                .write_round("c1", &round, Duration::from_secs(20))
                .unwrap();
            if i == 6 {
                store.persist_latest().unwrap();
            }
        }
        // As a crash would: no persist at close.
        std::mem::forget(store);

        let store = Store::open(&path).unwrap();
        let latest = store.latest("c1").unwrap();
        let cpu: Vec<(&str, f64)> = latest
            .iter()
            .map(|(s, _)| (s.node_name.as_str(), s.cpu.usage_percent))
            .collect();
        assert_eq!(cpu, [("a", 6.0), ("b", 6.0)]);
        // Every point: seconds 0, 20 and 40 of both nodes.
        for node in ["a", "b"] {
            let points = store
                .history("c1", node, t0, t0 + chrono::Duration::hours(1))
                .unwrap();
            let cpu: Vec<f64> = points.iter().map(|p| p.cpu_usage).collect();
            assert_eq!(cpu, [0.0, 4.0, 8.0], "{node}");
        }
    }

    #[test]
    fn pushes_keep_their_rules_in_memory() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-22T10:00:00Z");
        let rules = PushRules {
            sample_interval: Duration::from_secs(300),
            max_nodes: 2,
        };
        store
            .write_round(
                "c1",
                &[(snapshot("scraped", t0, 1.0), t0)],
                rules.sample_interval,
            )
            .unwrap();
        assert!(matches!(
            store.push("c1", &snapshot("scraped", t0, 2.0), t0, &rules),
            Err(StoreError::NodeIsScraped { .. })
        ));
        store
            .push("c1", &snapshot("p1", t0, 3.0), t0, &rules)
            .unwrap();
        assert!(matches!(
            store.push("c1", &snapshot("p2", t0, 4.0), t0, &rules),
            Err(StoreError::NodeLimit { max_nodes: 2, .. })
        ));
        let later = t0 + chrono::Duration::seconds(5);
        store
            .push("c1", &snapshot("p1", later, 5.0), later, &rules)
            .unwrap();
        assert_eq!(
            store
                .latest_node("c1", "p1")
                .unwrap()
                .unwrap()
                .0
                .cpu
                .usage_percent,
            5.0
        );
        assert!(store.latest_node("c1", "p2").unwrap().is_none());
        // The refusals left the writer healthy.
        assert_eq!(store.writer_state().last_failure, None);
        drop(store);
    }

    #[test]
    fn cleanup_removes_stale_nodes_from_memory_and_disk_alike() {
        let (_dir, store) = temp_store();
        let now = at("2026-11-22T10:00:00Z");
        let old = now - chrono::Duration::hours(25);
        let recent = now - chrono::Duration::minutes(1);
        let sample = Duration::from_secs(300);
        store
            .write_round("c1", &[(snapshot("old", old, 1.0), old)], sample)
            .unwrap();
        store
            .write_round("c2", &[(snapshot("gone", old, 1.0), old)], sample)
            .unwrap();
        store
            .write_round("c1", &[(snapshot("fresh", old, 1.0), old)], sample)
            .unwrap();
        // "fresh" came back a minute ago (written through); and once more since, unsaved.
        store
            .write_round("c1", &[(snapshot("fresh", recent, 2.0), recent)], sample)
            .unwrap();
        let newest = recent + chrono::Duration::seconds(5);
        store
            .write_round("c1", &[(snapshot("fresh", newest, 3.0), newest)], sample)
            .unwrap();
        let generation = store.latest_generation("c1");

        let report = store
            .cleanup(
                now,
                30 * Duration::from_secs(86_400),
                Duration::from_secs(86_400),
            )
            .unwrap();
        assert_eq!(report.stale_nodes, 2);
        assert_eq!(store.clusters().unwrap(), ["c1"]);
        let names: Vec<String> = store
            .latest("c1")
            .unwrap()
            .into_iter()
            .map(|(s, _)| s.node_name)
            .collect();
        assert_eq!(names, ["fresh"]);
        assert!(store.latest_generation("c1") > generation);
        // The table holds what memory does, the unsaved snapshot included.
        assert_eq!(
            stored_latest(&store),
            [("fresh".to_owned(), 3.0, millis(newest))]
        );
        assert!(store.latest("c2").unwrap().is_empty());
    }

    #[test]
    fn check_writable_leaves_nothing_behind() {
        let (_dir, store) = temp_store();
        store.check_writable().unwrap();
        store.check_writable().unwrap();
        let rows: i64 = store
            .conn()
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
        let store = Store {
            writer: Writer::new(conn),
            readers: Readers::Writer,
            resident: ResidentLatest::default(),
            rules: LatestRules::default(),
        };
        assert!(matches!(store.check_writable(), Err(StoreError::ReadOnly)));
    }
}
