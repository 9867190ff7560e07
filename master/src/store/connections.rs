//! The store's connections: one writer, and a few readers of their own.
//!
//! WAL lets readers read while a writer writes, but only on separate connections: with
//! one connection behind one mutex, every read waited for the write in progress, and a
//! write that waits for a lock held by another process (a backup, the `sqlite3` shell)
//! waits up to the busy timeout — so every API read stalled behind a stuck writer.
//! Now reads take a [`ReaderPool`] connection and never queue behind the writer.
//!
//! The [`Writer`] is one connection, taken by one write at a time. A write waits for
//! its turn and then for SQLite's lock within one bound ([`Writer::write`]'s `wait`),
//! and records how it ended ([`WriterState`]), so that readiness and the master's own
//! metrics can report a failing writer without waiting for it. Readiness probes only a
//! writer that is free ([`Writer::try_write`]); a busy one answers from its record.
//!
//! Not chosen: a timed mutex from a crate (one more dependency for twenty lines), and
//! a reader per request (a burst of requests would open connections without bound).

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Readers kept open; more requests at once wait for one of them (not for the writer).
pub const MAX_READERS: usize = 4;

/// How long a reader waits for SQLite (in WAL only a recovery blocks readers).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the writer is doing: what its last write did, and whether one is under way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterState {
    /// The error of the last write, `None` when it succeeded (or none has run).
    pub last_failure: Option<String>,
    /// Since when the write under way has held the writer.
    pub busy_since: Option<Instant>,
    /// How long the write under way should take at most; a longer one is waiting for
    /// a lock (readiness reports it).
    pub expected_within: Duration,
}

impl WriterState {
    /// How long the write under way has run past what it should take.
    pub fn stalled_for(&self) -> Option<Duration> {
        let busy_for = self.busy_since?.elapsed();
        (busy_for > self.expected_within).then_some(busy_for)
    }
}

/// One write at a time, each waiting a bounded time for its turn.
struct Turnstile {
    taken: Mutex<bool>,
    freed: Condvar,
}

/// The turn of one write; the next may go when it is dropped.
struct Turn<'a>(&'a Turnstile);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.0.taken) = false;
        self.0.freed.notify_one();
    }
}

impl Turnstile {
    /// Waits at most `within` for the turn; `None` when another write kept it.
    fn enter(&self, within: Duration) -> Option<Turn<'_>> {
        let deadline = Instant::now() + within;
        let mut taken = lock(&self.taken);
        while *taken {
            let left = deadline.checked_duration_since(Instant::now())?;
            taken = self
                .freed
                .wait_timeout(taken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *taken = true;
        Some(Turn(self))
    }
}

/// The one connection that writes.
pub struct Writer {
    conn: Mutex<Connection>,
    turnstile: Turnstile,
    state: Mutex<WriterState>,
}

impl Writer {
    pub fn new(conn: Connection) -> Writer {
        Writer {
            conn: Mutex::new(conn),
            turnstile: Turnstile {
                taken: Mutex::new(false),
                freed: Condvar::new(),
            },
            state: Mutex::default(),
        }
    }

    /// Runs `work` as the only write, waiting at most `wait` in all: for the writes
    /// before it, then (as SQLite's busy timeout) for a lock held by another process.
    /// `expected_within` is how long the write itself should take. Its outcome is
    /// recorded for [`Writer::state`], except refusals of the store's rules, which say
    /// nothing about the database.
    pub fn write<T>(
        &self,
        wait: Duration,
        expected_within: Duration,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let turn = self
            .turnstile
            .enter(wait)
            .ok_or(StoreError::WriterBusy { waited: wait })?;
        let result = self.run(
            wait.saturating_sub(started.elapsed()),
            expected_within,
            work,
        );
        drop(turn);
        result
    }

    /// Runs `work` only when no write is under way, giving SQLite `busy_timeout` for
    /// its lock; `None` when the writer is busy.
    pub fn try_write<T>(
        &self,
        busy_timeout: Duration,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let turn = self.turnstile.enter(Duration::ZERO)?;
        let result = self.run(busy_timeout, busy_timeout, work);
        drop(turn);
        Some(result)
    }

    fn run<T>(
        &self,
        busy_timeout: Duration,
        expected_within: Duration,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        {
            let mut state = lock(&self.state);
            state.busy_since = Some(Instant::now());
            state.expected_within = expected_within;
        }
        let mut conn = lock(&self.conn);
        let result = conn
            .busy_timeout(busy_timeout)
            .map_err(|source| StoreError::Sql {
                operation: "setting the busy timeout",
                source,
            })
            .and_then(|()| work(&mut conn));
        drop(conn);
        let mut state = lock(&self.state);
        state.busy_since = None;
        match &result {
            Ok(_) => state.last_failure = None,
            Err(error) if error.is_refusal() => {}
            Err(error) => state.last_failure = Some(error.to_string()),
        }
        result
    }

    pub fn state(&self) -> WriterState {
        lock(&self.state).clone()
    }

    /// The connection itself, for reads of an in-memory database and for tests.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }
}

/// Where reads go.
pub enum Readers {
    Pool(ReaderPool),
    /// An in-memory database cannot be opened twice: reads share the writer's
    /// connection (tests only).
    Writer,
}

/// Up to [`MAX_READERS`] read-only connections to the database file, opened as needed
/// and kept.
pub struct ReaderPool {
    path: PathBuf,
    slots: Mutex<Slots>,
    freed: Condvar,
}

#[derive(Default)]
struct Slots {
    idle: Vec<Connection>,
    /// Connections lent out, or being opened.
    lent: usize,
}

/// A connection lent to one read, given back when dropped (even if the read panicked).
struct Lease<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut slots = lock(&self.pool.slots);
        slots.lent -= 1;
        if let Some(conn) = self.conn.take() {
            slots.idle.push(conn);
        }
        self.pool.freed.notify_one();
    }
}

impl ReaderPool {
    pub fn new(path: &Path) -> ReaderPool {
        ReaderPool {
            path: path.to_owned(),
            slots: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    /// Runs `work` on a reader, waiting only for other reads when all are lent out.
    pub fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slots = lock(&self.slots);
        while slots.idle.is_empty() && slots.lent >= MAX_READERS {
            slots = self
                .freed
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner);
        }
        slots.lent += 1;
        let idle = slots.idle.pop();
        drop(slots);
        let mut lease = Lease {
            pool: self,
            conn: idle,
        };
        let conn = match lease.conn.take() {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = work(&conn);
        lease.conn = Some(conn);
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let failed = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        conn.busy_timeout(READ_BUSY_TIMEOUT).map_err(failed)?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_write_at_a_time_and_a_bounded_wait() {
        let writer = Arc::new(Writer::new(Connection::open_in_memory().unwrap()));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let holder = {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                writer.write(Duration::from_secs(5), Duration::from_millis(100), |_| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(400));
                    Ok(())
                })
            })
        };
        started_rx.recv().unwrap();
        assert!(writer.state().busy_since.is_some());
        assert_eq!(writer.state().stalled_for(), None);
        assert!(writer.try_write(Duration::ZERO, |_| Ok(())).is_none());
        let started = Instant::now();
        let refused = writer.write(Duration::from_millis(150), Duration::ZERO, |_| Ok(()));
        assert!(
            matches!(refused, Err(StoreError::WriterBusy { .. })),
            "{refused:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(300));
        // Past what it should take, the write under way is reported stalled.
        assert!(writer.state().stalled_for().is_some());
        // A longer wait gets its turn.
        writer
            .write(Duration::from_secs(5), Duration::ZERO, |_| Ok(()))
            .unwrap();
        holder.join().unwrap().unwrap();
        assert_eq!(writer.state().busy_since, None);
        assert_eq!(writer.state().last_failure, None);
    }

    #[test]
    fn failures_are_recorded_and_cleared() {
        let writer = Writer::new(Connection::open_in_memory().unwrap());
        let failed: Result<(), _> =
            writer.write(Duration::from_secs(1), Duration::from_secs(1), |conn| {
                conn.execute("INSERT INTO nowhere VALUES (1)", [])
                    .map(drop)
                    .map_err(|source| StoreError::Sql {
                        operation: "testing",
                        source,
                    })
            });
        assert!(failed.is_err());
        let state = writer.state();
        assert!(
            state
                .last_failure
                .as_deref()
                .is_some_and(|f| f.contains("no such table")),
            "{state:?}"
        );
        writer
            .write(Duration::from_secs(1), Duration::from_secs(1), |_| Ok(()))
            .unwrap();
        assert_eq!(writer.state().last_failure, None);
    }
}
