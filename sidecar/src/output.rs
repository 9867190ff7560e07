//! Turns the [`Statuses`] into the `.prom` text and keeps the file up to date: the
//! sources' values as `<prefix><key>` gauges, and the sidecar's own status families.
//!
//! A source's last good values are written for at most `stale_after` of its
//! intervals after they were taken, then dropped: a failing script's old values are
//! never presented as fresh for long. A key that two sources print is written for
//! the first source in `nodes.conf` order only. Values come before the status
//! families and the first family of a name wins: a key that spells a status
//! family's name (`sidecar_info` under the prefix `edge_`) takes it, and the status
//! family is dropped with a warning, as it always was.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edge_common::exposition::{MetricKind, MetricSet};

use crate::config::SourceKind;
use crate::source_states::{SourceStates, SourceStatus, Statuses};
use crate::writer::{append_checked, render, write_atomic};

/// How the file is written.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    pub path: PathBuf,
    pub prefix: String,
    pub node_name: String,
    /// Intervals a source's last good values outlive a failing run.
    pub stale_after: u32,
}

/// The metrics of the statuses, at `now`.
pub fn metrics(statuses: &Statuses, settings: &OutputSettings, now: Instant) -> MetricSet {
    let mut set = MetricSet::new();
    let mut taken = BTreeSet::new();
    for source in &statuses.sources {
        let fresh = source.values_at.is_some_and(|at| {
            now.duration_since(at) <= source.interval * settings.stale_after.max(1)
        });
        if !fresh {
            continue;
        }
        for (key, value) in &source.values {
            let name = format!("{}{key}", settings.prefix);
            if !taken.insert(name.clone()) {
                tracing::debug!(source = %source.kind, %name, "key already written by an earlier source");
                continue;
            }
            append_value(&mut set, name, key, &source.kind, *value);
        }
    }
    set.append(status_metrics(statuses, settings, now));
    set
}

/// Adds the gauge of one value a source produced: `name` (`<prefix><key>`), HELP
/// naming the source. The name is checked: a bad one is skipped with a warning.
pub fn append_value(set: &mut MetricSet, name: String, key: &str, source: &SourceKind, value: f64) {
    let help = format!(
        "Value of {key} from {} {}.",
        source.kind_label(),
        source.label()
    );
    append_checked(set, name, help, MetricKind::Gauge, &[(&[], value)]);
}

/// The sidecar's own families. Their names and label names are constants; each
/// source (unique in `nodes.conf`) has one sample per family.
fn status_metrics(statuses: &Statuses, settings: &OutputSettings, now: Instant) -> MetricSet {
    type Field = fn(&SourceStatus, Instant, u32) -> Option<f64>;
    let per_source: [(&'static str, &'static str, MetricKind, Field); 10] = [
        (
            "edge_sidecar_source_success",
            "1 if the source's last run succeeded (exit 0 and at least one valid value), else 0.",
            MetricKind::Gauge,
            |s, _, _| Some(if s.success { 1.0 } else { 0.0 }),
        ),
        (
            "edge_sidecar_source_duration_seconds",
            "How long the source's last run took.",
            MetricKind::Gauge,
            |s, _, _| Some(s.duration.as_secs_f64()),
        ),
        (
            "edge_sidecar_source_last_success_timestamp_seconds",
            "When the source last succeeded, in unixtime.",
            MetricKind::Gauge,
            |s, _, _| s.last_success.map(unix_seconds),
        ),
        (
            "edge_sidecar_source_values",
            "Values of the source written to the file now (0 once its last good values are stale).",
            MetricKind::Gauge,
            |s, now, stale| {
                Some(
                    if s.values_at
                        .is_some_and(|at| now.duration_since(at) <= s.interval * stale.max(1))
                    {
                        s.values.len() as f64
                    } else {
                        0.0
                    },
                )
            },
        ),
        (
            "edge_sidecar_source_runs_total",
            "Runs of the source.",
            MetricKind::Counter,
            |s, _, _| Some(s.runs as f64),
        ),
        (
            "edge_sidecar_source_failures_total",
            "Runs that failed, timed out or printed no valid value.",
            MetricKind::Counter,
            |s, _, _| Some(s.failures as f64),
        ),
        (
            "edge_sidecar_source_timeouts_total",
            "Runs killed at the timeout.",
            MetricKind::Counter,
            |s, _, _| Some(s.timeouts as f64),
        ),
        (
            "edge_sidecar_source_dropped_lines_total",
            "Output lines that were not key=value with a valid key and number.",
            MetricKind::Counter,
            |s, _, _| Some(s.dropped_lines as f64),
        ),
        (
            "edge_sidecar_source_duplicate_keys_total",
            "Keys printed more than once in a run (the last one wins).",
            MetricKind::Counter,
            |s, _, _| Some(s.duplicate_keys as f64),
        ),
        (
            "edge_sidecar_source_discarded_output_bytes_total",
            "Output bytes past the output limit, discarded.",
            MetricKind::Counter,
            |s, _, _| Some(s.discarded_bytes as f64),
        ),
    ];
    let mut set = MetricSet::new();
    for (name, help, kind, field) in per_source {
        for source in &statuses.sources {
            if let Some(value) = field(source, now, settings.stale_after) {
                let labels = [
                    ("kind", source.kind.kind_label()),
                    ("source", source.kind.label()),
                ];
                set.family(name, help, kind).push(&labels, value);
            }
        }
    }
    set.gauge(
        "edge_sidecar_config_reload_success",
        "1 if the last read of nodes.conf succeeded, 0 if it failed (the last good configuration stays in use).",
        &[],
        if statuses.reload.success { 1.0 } else { 0.0 },
    );
    if let Some(at) = statuses.reload.last_success {
        set.gauge(
            "edge_sidecar_config_last_reload_success_timestamp_seconds",
            "When nodes.conf was last read successfully, in unixtime.",
            &[],
            unix_seconds(at),
        );
    }
    set.counter(
        "edge_sidecar_file_write_failures_total",
        "Writes of the metrics file that failed (the previous file was kept).",
        &[],
        statuses.write_failures as f64,
    );
    set.gauge(
        "edge_sidecar_info",
        "The node this sidecar runs for and its version, value is always 1.",
        &[
            ("node_name", &settings.node_name),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    set
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Removes `<output>.tmp.*` files a previous process left when it was killed in the
/// middle of a write (the textfile collector ignores them, but they pile up).
pub fn remove_stale_temp_files(output: &std::path::Path) {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else {
        return;
    };
    let prefix = format!("{}.tmp.", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a temp file left by an earlier run")
                }
                Err(error) => {
                    tracing::warn!(file = %entry.path().display(), %error, "cannot remove a leftover temp file")
                }
            }
        }
    }
}

/// The text last written, for `--listen`.
pub type Published = Arc<Mutex<String>>;

/// Renders and writes the file whenever the statuses change (and at least every
/// second, so stale values expire); a write that fails is counted and retried.
pub fn run_writer(states: Arc<SourceStates>, settings: OutputSettings, published: Published) {
    let mut seen = u64::MAX;
    let mut written = String::new();
    loop {
        let version = states.wait_change(seen, Duration::from_secs(1));
        let text = {
            let statuses = states.lock();
            render(&metrics(&statuses, &settings, Instant::now()))
        };
        seen = version;
        if text == written {
            continue;
        }
        match write_atomic(&settings.path, text.as_bytes()) {
            Ok(()) => {
                *published
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = text.clone();
                written = text;
            }
            Err(error) => {
                tracing::error!(%error, "writing the metrics file failed; the previous file is kept");
                states.record_write_failure();
                // Try again soon rather than on the next change only.
                std::thread::sleep(Duration::from_millis(500));
                seen = u64::MAX;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, values: &[(&str, f64)], at: Option<Instant>) -> SourceStatus {
        SourceStatus {
            kind: SourceKind::Script(name.into()),
            interval: Duration::from_secs(10),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            values_at: at,
            success: at.is_some(),
            duration: Duration::from_millis(20),
            last_success: at.map(|_| UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            runs: 3,
            failures: 1,
            timeouts: 0,
            dropped_lines: 2,
            duplicate_keys: 0,
            discarded_bytes: 0,
        }
    }

    fn settings() -> OutputSettings {
        OutputSettings {
            path: PathBuf::from("/unused"),
            prefix: "edge_".into(),
            node_name: "n1".into(),
            stale_after: 3,
        }
    }

    #[test]
    fn leftover_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("custom_metrics.prom");
        for name in [
            "custom_metrics.prom",
            "custom_metrics.prom.tmp.Ab3xQz",
            "other.prom.tmp.1",
            "keep.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        remove_stale_temp_files(&output);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["custom_metrics.prom", "keep.txt", "other.prom.tmp.1"]
        );
    }

    #[test]
    fn writes_fresh_values_once_and_drops_stale_ones() {
        let now = Instant::now();
        let statuses = Statuses {
            sources: vec![
                status("a", &[("temp", 21.5), ("hum", 40.0)], Some(now)),
                status("b", &[("temp", 99.0), ("volts", 5.0)], Some(now)),
                // Last good values 31 s old with a 10 s interval and stale_after 3.
                status("c", &[("old", 1.0)], Some(now - Duration::from_secs(31))),
            ],
            ..Statuses::default()
        };
        let text = render(&metrics(&statuses, &settings(), now));
        assert!(text.contains("# HELP edge_temp Value of temp from script a.\n# TYPE edge_temp gauge\nedge_temp 21.5\n"), "{text}");
        assert!(text.contains("edge_volts 5\n"), "{text}");
        assert!(
            !text.contains("edge_temp 99"),
            "the first source keeps a shared key"
        );
        assert!(!text.contains("edge_old"), "stale values are dropped");
        assert!(
            text.contains("edge_sidecar_source_values{kind=\"script\",source=\"c\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "edge_sidecar_source_dropped_lines_total{kind=\"script\",source=\"a\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("edge_sidecar_source_last_success_timestamp_seconds{kind=\"script\",source=\"a\"} 1700000000\n"), "{text}");
        assert!(
            text.contains("edge_sidecar_config_reload_success 0\n"),
            "{text}"
        );
        assert!(
            text.contains("edge_sidecar_info{node_name=\"n1\",version=\""),
            "{text}"
        );
    }
}
