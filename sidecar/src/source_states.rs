//! What every source last produced and how its runs went, with the outcome of the
//! last config reload and the file's write failures: the one state the sidecar has.
//! The workers record their runs here, the reloader its reloads and the set of
//! sources, the writer renders it (`output`) whenever it changes.
//!
//! A reload starts a new generation: a run recorded with an older generation
//! belongs to a worker of the old configuration and is dropped, so a removed
//! source's last run cannot come back.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Source, SourceKind};

/// One value a source produced: its key (the metric name without the prefix), its
/// labels and the number. Label names are `'static`: only the sidecar's own code
/// names labels (a sysfs source's `device`, `name`, `id`), and a script's output or
/// a sensor file never carries any ([`SourceValue::from`] a key and value), so
/// neither can forge a series of another source. Label values come from sysfs, are
/// checked by their source and escaped by the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceValue {
    pub key: String,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl From<(String, f64)> for SourceValue {
    fn from((key, value): (String, f64)) -> Self {
        SourceValue {
            key,
            labels: Vec::new(),
            value,
        }
    }
}

/// What one source produced and how its runs went.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub kind: SourceKind,
    pub interval: Duration,
    /// The last good values and when they were taken.
    pub values: Vec<SourceValue>,
    pub values_at: Option<Instant>,
    pub success: bool,
    pub duration: Duration,
    pub last_success: Option<SystemTime>,
    pub runs: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub dropped_lines: u64,
    /// Lines whose key was new after `--max-keys-per-run` keys.
    pub dropped_keys: u64,
    pub duplicate_keys: u64,
    pub discarded_bytes: u64,
}

impl SourceStatus {
    fn new(source: &Source) -> Self {
        SourceStatus {
            kind: source.kind.clone(),
            interval: source.interval,
            values: Vec::new(),
            values_at: None,
            success: false,
            duration: Duration::ZERO,
            last_success: None,
            runs: 0,
            failures: 0,
            timeouts: 0,
            dropped_lines: 0,
            dropped_keys: 0,
            duplicate_keys: 0,
            discarded_bytes: 0,
        }
    }
}

/// The outcome of the config's last (re)load. The error itself is logged by the
/// reloader, not kept.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub success: bool,
    pub last_success: Option<SystemTime>,
}

/// The recorded statuses, as the writer renders them.
#[derive(Debug, Default)]
pub struct Statuses {
    pub generation: u64,
    /// In `nodes.conf` order.
    pub sources: Vec<SourceStatus>,
    pub reload: ReloadStatus,
    pub write_failures: u64,
    /// Bumped on every change, so the writer knows when to render.
    pub version: u64,
}

/// One run's result, as [`SourceStates::record_run`] takes it.
#[derive(Debug, Default)]
pub struct RunReport {
    /// `None` when the run failed, timed out or printed nothing valid.
    pub values: Option<Vec<SourceValue>>,
    pub duration: Duration,
    pub timed_out: bool,
    pub dropped_lines: u64,
    pub dropped_keys: u64,
    pub duplicate_keys: u64,
    pub discarded_bytes: u64,
}

/// The [`Statuses`], shared by the workers, the reloader and the writer; a change
/// wakes the writer.
#[derive(Debug, Default)]
pub struct SourceStates {
    statuses: Mutex<Statuses>,
    changed: Condvar,
}

impl SourceStates {
    pub fn lock(&self) -> MutexGuard<'_, Statuses> {
        self.statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a change and wakes the writer.
    fn touch(&self, statuses: &mut Statuses) {
        statuses.version += 1;
        self.changed.notify_all();
    }

    /// Waits until the version differs from `seen` or `timeout` passes.
    pub fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |statuses| statuses.version == seen)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.version
    }

    /// Starts a new generation with `sources`, in `nodes.conf` order: a source that
    /// stays keeps its last good values and counters, one that is gone is dropped.
    /// Returns the generation the new workers record their runs with.
    pub fn replace_sources(&self, sources: &[Source]) -> u64 {
        let mut statuses = self.lock();
        statuses.generation += 1;
        let old = std::mem::take(&mut statuses.sources);
        statuses.sources = sources
            .iter()
            .map(|source| match old.iter().find(|s| s.kind == source.kind) {
                Some(kept) => SourceStatus {
                    interval: source.interval,
                    ..kept.clone()
                },
                None => SourceStatus::new(source),
            })
            .collect();
        self.touch(&mut statuses);
        statuses.generation
    }

    pub fn record_reload_success(&self) {
        let mut statuses = self.lock();
        statuses.reload = ReloadStatus {
            success: true,
            last_success: Some(SystemTime::now()),
        };
        self.touch(&mut statuses);
    }

    /// The last good configuration stays in use; only the status changes.
    pub fn record_reload_failure(&self) {
        let mut statuses = self.lock();
        statuses.reload.success = false;
        self.touch(&mut statuses);
    }

    pub fn record_write_failure(&self) {
        let mut statuses = self.lock();
        statuses.write_failures += 1;
        self.touch(&mut statuses);
    }

    /// Records a run of `kind`, unless `generation` is no longer current.
    pub fn record_run(&self, generation: u64, kind: &SourceKind, run: RunReport) {
        let mut statuses = self.lock();
        if statuses.generation != generation {
            return;
        }
        let Some(status) = statuses.sources.iter_mut().find(|s| &s.kind == kind) else {
            return;
        };
        status.runs += 1;
        status.duration = run.duration;
        status.dropped_lines += run.dropped_lines;
        status.dropped_keys += run.dropped_keys;
        status.duplicate_keys += run.duplicate_keys;
        status.discarded_bytes += run.discarded_bytes;
        if run.timed_out {
            status.timeouts += 1;
        }
        match run.values {
            Some(values) => {
                status.success = true;
                status.values = values;
                status.values_at = Some(Instant::now());
                status.last_success = Some(SystemTime::now());
            }
            None => {
                status.success = false;
                status.failures += 1;
            }
        }
        self.touch(&mut statuses);
    }
}
