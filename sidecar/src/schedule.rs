//! Runs each of this node's sources on a thread of its own, every `interval`, never
//! overlapping with itself, and keeps what each last produced on the [`Board`].
//!
//! A reload replaces the workers: the old ones finish their current run without
//! publishing it (their generation is gone) and the new ones start at once, keeping
//! the last good values and counters of sources that stay.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{self, Source, SourceKind};
use crate::i2c::I2cSource;
use crate::parse::parse_key_values;
use crate::runner::{self, Ending, ScriptRun};

/// How scripts are run; fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub scripts_dir: PathBuf,
    pub node_name: String,
    pub timeout: Duration,
    pub grace: Duration,
    pub output_limit: usize,
    pub stderr_limit: usize,
}

/// What one source produced and how its runs went.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub kind: SourceKind,
    pub interval: Duration,
    /// The last good values and when they were taken.
    pub values: Vec<(String, f64)>,
    pub values_at: Option<Instant>,
    pub success: bool,
    pub duration: Duration,
    pub last_success: Option<SystemTime>,
    pub runs: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub dropped_lines: u64,
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
            duplicate_keys: 0,
            discarded_bytes: 0,
        }
    }
}

/// The outcome of the config's last (re)load.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub success: bool,
    pub last_success: Option<SystemTime>,
    pub error: Option<String>,
}

/// Everything the writer renders, shared by the workers, the reloader and the writer.
#[derive(Debug, Default)]
pub struct BoardState {
    pub generation: u64,
    /// In `nodes.conf` order.
    pub sources: Vec<SourceStatus>,
    pub reload: ReloadStatus,
    pub write_failures: u64,
    /// Bumped on every change, so the writer knows when to render.
    pub version: u64,
}

#[derive(Debug, Default)]
pub struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

impl Board {
    pub fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a change and wakes the writer.
    pub fn touch(&self, state: &mut BoardState) {
        state.version += 1;
        self.changed.notify_all();
    }

    /// Waits until the version differs from `seen` or `timeout` passes.
    pub fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |state| state.version == seen)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.version
    }

    pub fn record_reload(&self, result: Result<(), String>) {
        let mut state = self.lock();
        match result {
            Ok(()) => {
                state.reload = ReloadStatus {
                    success: true,
                    last_success: Some(SystemTime::now()),
                    error: None,
                };
            }
            Err(error) => {
                state.reload.success = false;
                state.reload.error = Some(error);
            }
        }
        self.touch(&mut state);
    }

    pub fn record_write_failure(&self) {
        let mut state = self.lock();
        state.write_failures += 1;
        self.touch(&mut state);
    }

    fn publish(&self, generation: u64, kind: &SourceKind, run: RunReport) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        let Some(status) = state.sources.iter_mut().find(|s| &s.kind == kind) else {
            return;
        };
        status.runs += 1;
        status.duration = run.duration;
        status.dropped_lines += run.dropped_lines;
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
        self.touch(&mut state);
    }
}

/// One run's result, as the board records it.
#[derive(Debug, Default)]
struct RunReport {
    /// `None` when the run failed, timed out or printed nothing valid.
    values: Option<Vec<(String, f64)>>,
    duration: Duration,
    timed_out: bool,
    dropped_lines: u64,
    duplicate_keys: u64,
    discarded_bytes: u64,
}

/// Asks a worker to stop and wakes it from its sleep.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sleeps `duration` unless stopped first; true if stopped.
    fn sleep(&self, duration: Duration) -> bool {
        let guard = self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard
    }
}

/// The running workers of the current configuration.
pub struct Scheduler {
    board: Arc<Board>,
    settings: Arc<RunSettings>,
    sources: Vec<Source>,
    stops: Vec<Arc<StopSignal>>,
}

impl Scheduler {
    pub fn new(board: Arc<Board>, settings: RunSettings) -> Self {
        Scheduler {
            board,
            settings: Arc::new(settings),
            sources: Vec::new(),
            stops: Vec::new(),
        }
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Replaces the running sources with `sources` (no-op when they are the same).
    pub fn apply(&mut self, sources: &[Source]) {
        if sources == self.sources.as_slice() && !self.stops.is_empty() {
            return;
        }
        for stop in self.stops.drain(..) {
            stop.stop();
        }
        let generation = {
            let mut state = self.board.lock();
            state.generation += 1;
            let old = std::mem::take(&mut state.sources);
            state.sources = sources
                .iter()
                .map(|source| {
                    match old.iter().find(|s| s.kind == source.kind) {
                        // Same source: keep its last good values and counters.
                        Some(kept) => SourceStatus {
                            interval: source.interval,
                            ..kept.clone()
                        },
                        None => SourceStatus::new(source),
                    }
                })
                .collect();
            self.board.touch(&mut state);
            state.generation
        };
        self.sources = sources.to_vec();
        for source in sources {
            let stop = Arc::new(StopSignal::default());
            let worker = Worker {
                board: Arc::clone(&self.board),
                settings: Arc::clone(&self.settings),
                source: source.clone(),
                generation,
                stop: Arc::clone(&stop),
            };
            let name = format!("source-{}", source.kind.label());
            match thread::Builder::new()
                .name(name)
                .spawn(move || worker.run())
            {
                Ok(_) => self.stops.push(stop),
                Err(error) => {
                    tracing::error!(source = %source.kind, %error, "cannot start a worker thread")
                }
            }
        }
        tracing::info!(sources = ?sources.iter().map(|s| s.kind.to_string()).collect::<Vec<_>>(), "sources scheduled");
    }

    /// Stops every worker (their current runs finish and are not published).
    pub fn stop_all(&mut self) {
        for stop in self.stops.drain(..) {
            stop.stop();
        }
    }
}

struct Worker {
    board: Arc<Board>,
    settings: Arc<RunSettings>,
    source: Source,
    generation: u64,
    stop: Arc<StopSignal>,
}

impl Worker {
    fn run(self) {
        loop {
            let started = Instant::now();
            let report = match &self.source.kind {
                SourceKind::Script(_) => self.run_script(),
                SourceKind::I2c(_) => self.read_i2c(),
            };
            if self.stop.is_stopped() {
                return;
            }
            self.board
                .publish(self.generation, &self.source.kind, report);
            if self
                .stop
                .sleep(self.source.interval.saturating_sub(started.elapsed()))
            {
                return;
            }
        }
    }

    fn run_script(&self) -> RunReport {
        let started = Instant::now();
        let kind = &self.source.kind;
        let path = match config::resolve(&self.settings.scripts_dir, kind) {
            Ok(path) => path,
            Err(error) => {
                tracing::warn!(source = %kind, %error, "not run");
                return RunReport {
                    duration: started.elapsed(),
                    ..RunReport::default()
                };
            }
        };
        let outcome = runner::run(&ScriptRun {
            script: &path,
            node_name: &self.settings.node_name,
            timeout: self.settings.timeout,
            grace: self.settings.grace,
            output_limit: self.settings.output_limit,
            stderr_limit: self.settings.stderr_limit,
        });
        // The runner logs the script's stderr (and a timeout) itself.
        let parsed = parse_key_values(&outcome.stdout);
        if let Some(problem) = &parsed.first_problem {
            tracing::warn!(
                source = %kind,
                dropped = parsed.rejected,
                first = %problem,
                "lines dropped"
            );
        }
        let mut report = RunReport {
            values: None,
            duration: outcome.duration,
            timed_out: matches!(outcome.ending, Ending::TimedOut),
            dropped_lines: parsed.rejected as u64,
            duplicate_keys: parsed.duplicates as u64,
            discarded_bytes: outcome.stdout_discarded,
        };
        match outcome.ending {
            Ending::Exited(0) if !parsed.values.is_empty() => report.values = Some(parsed.values),
            Ending::Exited(0) => tracing::warn!(source = %kind, "no valid key=value line"),
            ending => tracing::warn!(source = %kind, ?ending, "run failed"),
        }
        report
    }

    fn read_i2c(&self) -> RunReport {
        let started = Instant::now();
        let kind = &self.source.kind;
        let values = config::resolve(&self.settings.scripts_dir, kind)
            .and_then(|path| I2cSource::load(&path).map_err(|e| e.to_string()))
            .and_then(|sensor| sensor.read().map_err(|e| e.to_string()));
        match values {
            Ok(values) if !values.is_empty() => RunReport {
                values: Some(values),
                duration: started.elapsed(),
                ..RunReport::default()
            },
            Ok(_) => {
                tracing::warn!(source = %kind, "sensor file defines no values");
                RunReport {
                    duration: started.elapsed(),
                    ..RunReport::default()
                }
            }
            Err(error) => {
                tracing::warn!(source = %kind, %error, "i2c read failed");
                RunReport {
                    duration: started.elapsed(),
                    ..RunReport::default()
                }
            }
        }
    }
}
