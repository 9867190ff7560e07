//! Runs each of this node's sources on a thread of its own, every `interval`, never
//! overlapping with itself, and records what each run produced in the
//! [`SourceStates`].
//!
//! A reload replaces the workers: the old ones finish their current run without
//! publishing it (their generation is gone) and the new ones start at once, keeping
//! the last good values and counters of sources that stay.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{self, ResolveError, Source, SourceKind};
use crate::i2c::{I2cConfigError, I2cReadError, I2cSource};
use crate::parse::parse_key_values;
use crate::runner::{self, Ending, ScriptRun};
use crate::source_states::{RunReport, SourceStates};

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
    states: Arc<SourceStates>,
    settings: Arc<RunSettings>,
    sources: Vec<Source>,
    stops: Vec<Arc<StopSignal>>,
}

impl Scheduler {
    pub fn new(states: Arc<SourceStates>, settings: RunSettings) -> Self {
        Scheduler {
            states,
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
        let generation = self.states.replace_sources(sources);
        self.sources = sources.to_vec();
        for source in sources {
            let stop = Arc::new(StopSignal::default());
            let worker = Worker {
                states: Arc::clone(&self.states),
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
    states: Arc<SourceStates>,
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
            self.states
                .record_run(self.generation, &self.source.kind, report);
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
        let values = match self.read_sensor() {
            Ok(values) if !values.is_empty() => Some(values),
            Ok(_) => {
                tracing::warn!(source = %kind, "sensor file defines no values");
                None
            }
            Err(error) => {
                tracing::warn!(source = %kind, %error, "i2c read failed");
                None
            }
        };
        RunReport {
            values,
            duration: started.elapsed(),
            ..RunReport::default()
        }
    }

    /// The sensor file is read again on every run, so an edit applies on the next.
    fn read_sensor(&self) -> Result<Vec<(String, f64)>, SensorError> {
        let path = config::resolve(&self.settings.scripts_dir, &self.source.kind)?;
        Ok(I2cSource::load(&path)?.read()?)
    }
}

/// Why an I2C source's run produced no values.
#[derive(Debug, thiserror::Error)]
enum SensorError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Config(#[from] I2cConfigError),
    #[error(transparent)]
    Read(#[from] I2cReadError),
}
