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
use crate::names::ValueNames;
use crate::parse::{parse_key_values, KeyRules};
use crate::runner::{self, Ending, ScriptRun};
use crate::script_env::{RunAs, ScriptEnv};
use crate::source_states::{RunReport, SourceStates, SourceValue};
use crate::sysfs_sensors::{IioDevice, W1Probes};

/// How sources are run; fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub scripts_dir: PathBuf,
    /// `--path.sysfs`: the root the IIO and 1-Wire sources read under.
    pub sysfs: PathBuf,
    /// Every script's whole environment.
    pub env: ScriptEnv,
    pub run_as: Option<RunAs>,
    pub timeout: Duration,
    pub grace: Duration,
    pub output_limit: usize,
    pub stderr_limit: usize,
    /// Keys kept from one run (`--max-keys-per-run`), of a script or a sensor file.
    pub max_keys: usize,
    /// Which keys cannot be values (they would take the sidecar's own names).
    pub names: Arc<ValueNames>,
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
                SourceKind::I2c(_) => self.read_native(|| self.read_sensor()),
                SourceKind::Iio(device) => {
                    self.read_native(|| IioDevice::open(&self.settings.sysfs, device)?.read())
                }
                SourceKind::W1(id) => {
                    self.read_native(|| W1Probes::find(&self.settings.sysfs, id)?.read())
                }
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
            env: &self.settings.env,
            run_as: self.settings.run_as.as_ref(),
            timeout: self.settings.timeout,
            grace: self.settings.grace,
            output_limit: self.settings.output_limit,
            stderr_limit: self.settings.stderr_limit,
        });
        // The runner logs the script's stderr (and a timeout) itself.
        let parsed = parse_key_values(
            &outcome.stdout,
            &KeyRules {
                max_keys: self.settings.max_keys,
                names: &self.settings.names,
            },
        );
        if let Some(problem) = &parsed.first_problem {
            tracing::warn!(
                source = %kind,
                dropped = parsed.rejected,
                first = %problem,
                "lines dropped"
            );
        }
        if parsed.own_name_lines > 0 {
            tracing::warn!(
                source = %kind,
                dropped = parsed.own_name_lines,
                keys = %parsed.own_name_keys.join(", "),
                "keys dropped: they would take the sidecar's own metric names"
            );
        }
        if let Some(first) = &parsed.first_over_limit {
            tracing::warn!(
                source = %kind,
                dropped = parsed.over_limit,
                max_keys = self.settings.max_keys,
                first = %first,
                "keys past --max-keys-per-run dropped; the first ones are kept"
            );
        }
        let mut report = RunReport {
            values: None,
            duration: outcome.duration,
            timed_out: matches!(outcome.ending, Ending::TimedOut),
            dropped_lines: parsed.rejected as u64,
            dropped_keys: parsed.over_limit as u64,
            duplicate_keys: parsed.duplicates as u64,
            discarded_bytes: outcome.stdout_discarded,
        };
        match outcome.ending {
            Ending::Exited(0) if !parsed.values.is_empty() => {
                report.values = Some(parsed.values.into_iter().map(SourceValue::from).collect())
            }
            Ending::Exited(0) => tracing::warn!(source = %kind, "no valid key=value line"),
            ending => tracing::warn!(source = %kind, ?ending, "run failed"),
        }
        report
    }

    /// A native read (a sensor file over I2C, an IIO device, 1-Wire probes) on this
    /// worker's thread, never the one that answers `--listen`: all of the source's
    /// values, or a failed run with the error logged.
    fn read_native<E: std::fmt::Display>(
        &self,
        read: impl FnOnce() -> Result<Vec<SourceValue>, E>,
    ) -> RunReport {
        let started = Instant::now();
        let kind = &self.source.kind;
        let mut report = RunReport::default();
        match read() {
            Ok(values) => {
                let values = self.admit_sensor_values(values, &mut report);
                if values.is_empty() {
                    tracing::warn!(source = %kind, "no values");
                } else {
                    report.values = Some(values);
                }
            }
            Err(error) => tracing::warn!(source = %kind, %error, "read failed"),
        }
        report.duration = started.elapsed();
        report
    }

    /// A native source's values under the rules of a script's keys: one named like
    /// one of the sidecar's own is a bad line, those past `--max-keys-per-run` are
    /// dropped.
    fn admit_sensor_values(
        &self,
        mut values: Vec<SourceValue>,
        report: &mut RunReport,
    ) -> Vec<SourceValue> {
        let kind = &self.source.kind;
        values.retain(|SourceValue { key, .. }| match self.settings.names.own_family_for(key) {
            Some(own) => {
                tracing::warn!(source = %kind, %key, %own, "value dropped: it would take one of the sidecar's own metric names");
                report.dropped_lines += 1;
                false
            }
            None => true,
        });
        if values.len() > self.settings.max_keys {
            report.dropped_keys = (values.len() - self.settings.max_keys) as u64;
            values.truncate(self.settings.max_keys);
            tracing::warn!(source = %kind, dropped = report.dropped_keys, "values past --max-keys-per-run dropped");
        }
        values
    }

    /// The sensor file is read again on every run, so an edit applies on the next.
    fn read_sensor(&self) -> Result<Vec<SourceValue>, SensorError> {
        let path = config::resolve(&self.settings.scripts_dir, &self.source.kind)?;
        let values = I2cSource::load(&path)?.read()?;
        Ok(values.into_iter().map(SourceValue::from).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensor_files_values_follow_the_rules_of_script_keys() {
        let worker = Worker {
            states: Arc::new(SourceStates::default()),
            settings: Arc::new(RunSettings {
                scripts_dir: PathBuf::from("/unused"),
                sysfs: PathBuf::from("/unused"),
                env: ScriptEnv::default(),
                run_as: None,
                timeout: Duration::from_secs(1),
                grace: Duration::from_secs(1),
                output_limit: 0,
                stderr_limit: 0,
                max_keys: 2,
                names: Arc::new(ValueNames::new("edge_")),
            }),
            source: Source {
                kind: SourceKind::I2c("s.toml".into()),
                interval: Duration::from_secs(1),
            },
            generation: 0,
            stop: Arc::new(StopSignal::default()),
        };
        let values = ["temp", "sidecar_info", "hum", "pressure"]
            .map(|k| SourceValue::from((k.to_string(), 1.0)))
            .to_vec();
        let mut report = RunReport::default();
        let kept = worker.admit_sensor_values(values, &mut report);
        let keys: Vec<&str> = kept.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["temp", "hum"]);
        assert_eq!((report.dropped_lines, report.dropped_keys), (1, 1));
    }
}
