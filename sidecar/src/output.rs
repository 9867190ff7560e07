//! Turns the [`Statuses`] into the `.prom` text and keeps the file up to date: the
//! sources' values as `<prefix><key>` gauges, and the sidecar's own families
//! (`status`), which are always written.
//!
//! - Freshness: a source's last good values are written for at most `stale_after` of
//!   its intervals after they were taken, then dropped: a failing script's old values
//!   are never presented as fresh for long.
//! - Names: the file's names are claimed first by the sidecar's own families, then by
//!   each source's values in `nodes.conf` order; a value whose name (in text 0.0.4 or
//!   OpenMetrics, see `names`) is taken already is not written, so a key that two
//!   sources print is written for the first source only. Labelled values (the IIO
//!   and 1-Wire sources', labels named by the sidecar only) are the exception: the
//!   first labelled family of a name is shared by the later sources' labelled values
//!   of that name, one family told apart by labels (a BME280's and a DS18B20's
//!   `temperature_celsius`); an unlabelled one still takes the name first. Keys that would take the
//!   sidecar's own names never get here: the workers drop them as bad lines.
//! - Size: the file stays within `--max-file-bytes` (below the exporter's textfile
//!   cap, past which the exporter would drop the whole file, status and all). A
//!   source's values are placed whole, in `nodes.conf` order, after room for the
//!   status families: a source whose values do not fit in what is left is left out
//!   whole (`edge_sidecar_source_left_out_values` says how many), and a later,
//!   smaller one may still fit. `nodes.conf` order is the order of priority, as it is
//!   for shared keys. Not chosen: cutting a source part way (half a sensor's values
//!   look like a whole set), or leaving the largest out first (which source goes
//!   would then depend on the others' sizes). A name stays claimed by the first
//!   source that has it even when that source is left out.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_common::exposition::{MetricKind, MetricSet};

use crate::config::SourceKind;
use crate::names::ValueNames;
use crate::source_states::{SourceStates, SourceStatus, SourceValue, Statuses};
use crate::status::{status_metrics, SidecarView, SourceView};
use crate::writer::{append_checked, render, write_atomic, Sample};

/// `--max-file-bytes`' default: half of what edge-exporter reads from all textfiles of
/// one scrape by default (`--collector.textfile.max-bytes`, 4 MiB; past it the file
/// is skipped whole, status and all), so other files in the directory still fit; and
/// little next to the sidecar container's 64 MiB, which holds the text a few times.
pub const DEFAULT_MAX_FILE_BYTES: usize = 2 << 20;

/// How the file is written.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    pub path: PathBuf,
    /// How keys become names, and the sidecar's own names.
    pub names: Arc<ValueNames>,
    pub node_name: String,
    /// Intervals a source's last good values outlive a failing run.
    pub stale_after: u32,
    /// The file's size limit; the status families are written even past it.
    pub max_file_bytes: usize,
}

/// The file's text, and what it could not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileText {
    pub text: String,
    /// Sources whose fresh values were left out for the size limit.
    pub left_out: Vec<SourceKind>,
    /// The status families alone pass the size limit (they are written anyway).
    pub status_over_limit: bool,
}

/// One source's values as they would be written, and their size in the file.
struct SourceValues {
    set: MetricSet,
    /// Samples in `set`: one per value, labelled values included.
    series: usize,
    bytes: usize,
}

/// The file's text for the statuses, at `now`.
pub fn file_text(statuses: &Statuses, settings: &OutputSettings, now: Instant) -> FileText {
    let values = value_families(statuses, settings, now);
    let sidecar = SidecarView {
        statuses,
        node_name: &settings.node_name,
    };
    let counts = |placed: &[bool]| -> Vec<(usize, usize)> {
        values
            .iter()
            .zip(placed)
            .map(|(v, &placed)| match v {
                Some(v) if placed => (v.series, 0),
                Some(v) => (0, v.series),
                None => (0, 0),
            })
            .collect()
    };
    let status = |placed: &[bool]| {
        let counts = counts(placed);
        let views: Vec<SourceView> = statuses
            .sources
            .iter()
            .zip(&counts)
            .map(|(status, &(written, left_out))| SourceView {
                status,
                written,
                left_out,
            })
            .collect();
        status_metrics(&sidecar, &views)
    };
    let values_bytes = |placed: &[bool]| -> usize {
        values
            .iter()
            .zip(placed)
            .filter_map(|(v, &placed)| v.as_ref().filter(|_| placed))
            .map(|v| v.bytes)
            .sum()
    };

    let limit = settings.max_file_bytes;
    let mut placed: Vec<bool> = values.iter().map(Option::is_some).collect();
    let status_bytes = render(&status(&placed)).len();
    let mut room = limit.saturating_sub(status_bytes);
    for (place, v) in placed.iter_mut().zip(&values) {
        if let Some(v) = v {
            if v.bytes <= room {
                room -= v.bytes;
            } else {
                *place = false;
            }
        }
    }
    // Leaving values out changes two numbers of the source in the status families;
    // if that made them longer than the room left, leave out more, from the end.
    let mut status_set = status(&placed);
    let mut status_bytes = render(&status_set).len();
    while values_bytes(&placed) + status_bytes > limit {
        let Some(last) = placed.iter().rposition(|&p| p) else {
            break;
        };
        placed[last] = false;
        status_set = status(&placed);
        status_bytes = render(&status_set).len();
    }

    let left_out = statuses
        .sources
        .iter()
        .zip(values.iter().zip(&placed))
        .filter(|(_, (v, &placed))| v.is_some() && !placed)
        .map(|(source, _)| source.kind.clone())
        .collect();
    let mut set = MetricSet::new();
    for (v, placed) in values.into_iter().zip(placed) {
        if let (Some(v), true) = (v, placed) {
            set.append(v.set);
        }
    }
    set.append(status_set);
    FileText {
        text: render(&set),
        left_out,
        status_over_limit: status_bytes > limit,
    }
}

fn is_fresh(source: &SourceStatus, stale_after: u32, now: Instant) -> bool {
    source
        .values_at
        .is_some_and(|at| now.duration_since(at) <= source.interval * stale_after.max(1))
}

/// Each source's fresh values whose names are free, in `nodes.conf` order; `None` for
/// a source without fresh values.
fn value_families(
    statuses: &Statuses,
    settings: &OutputSettings,
    now: Instant,
) -> Vec<Option<SourceValues>> {
    let mut claims = settings.names.own_claims();
    // Names of labelled families (sysfs sources' values): a later source's labelled
    // values join them (two IIO devices, a BME280 and 1-Wire probes all have
    // temperature_celsius), told apart by their labels.
    let mut shared: HashSet<String> = HashSet::new();
    statuses
        .sources
        .iter()
        .map(|source| {
            if !is_fresh(source, settings.stale_after, now) {
                return None;
            }
            // A key's values (several when labelled, e.g. one per 1-Wire probe) make
            // one family, claimed once, in the order the key first appears.
            let mut families: Vec<(String, &str, Vec<&SourceValue>)> = Vec::new();
            let mut index: HashMap<&str, usize> = HashMap::new();
            for value in &source.values {
                if let Some(&at) = index.get(value.key.as_str()) {
                    families[at].2.push(value);
                    continue;
                }
                let name = settings.names.name(&value.key);
                let labelled = !value.labels.is_empty();
                if !(labelled && shared.contains(&name)) {
                    if let Err(holder) = claims.claim(&name, MetricKind::Gauge) {
                        tracing::debug!(source = %source.kind, %name, %holder, "name taken by an earlier family; not written");
                        continue;
                    }
                    if labelled {
                        shared.insert(name.clone());
                    }
                }
                index.insert(&value.key, families.len());
                families.push((name, &value.key, vec![value]));
            }
            let mut set = MetricSet::new();
            for (name, key, values) in families {
                let labels: Vec<Vec<(&str, &str)>> = values
                    .iter()
                    .map(|v| v.labels.iter().map(|(n, v)| (*n, v.as_str())).collect())
                    .collect();
                let samples: Vec<Sample<'_>> = labels
                    .iter()
                    .zip(&values)
                    .map(|(labels, v)| (labels.as_slice(), v.value))
                    .collect();
                append_value(&mut set, name, key, &source.kind, &samples);
            }
            let bytes = render(&set).len();
            let series = set.families().iter().map(|f| f.len()).sum();
            Some(SourceValues { set, series, bytes })
        })
        .collect()
}

/// Adds the gauge of one key a source produced: `name` (`<prefix><key>`), HELP
/// naming the source (unless every sample is labelled), one sample per label set (one unlabelled sample for a script's
/// key). Names are checked: a bad one is skipped with a warning.
pub fn append_value(
    set: &mut MetricSet,
    name: String,
    key: &str,
    source: &SourceKind,
    samples: &[Sample<'_>],
) {
    // Labelled samples may come from several sources (see `value_families`): their
    // HELP names no source, so that the families merge when the file is assembled.
    let help = if !samples.is_empty() && samples.iter().all(|(labels, _)| !labels.is_empty()) {
        format!("Value of {key} from the sidecar's sensor sources, a series per device.")
    } else {
        format!(
            "Value of {key} from {} {}.",
            source.kind_label(),
            source.label()
        )
    };
    append_checked(set, name, help, MetricKind::Gauge, samples);
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
    let mut shortfall = (Vec::new(), false);
    loop {
        let version = states.wait_change(seen, Duration::from_secs(1));
        let file = {
            let statuses = states.lock();
            file_text(&statuses, &settings, Instant::now())
        };
        seen = version;
        if (&file.left_out, file.status_over_limit) != (&shortfall.0, shortfall.1) {
            if !file.left_out.is_empty() || file.status_over_limit {
                tracing::warn!(
                    max_file_bytes = settings.max_file_bytes,
                    left_out = ?file.left_out.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    status_over_limit = file.status_over_limit,
                    "the file would pass --max-file-bytes: these sources' values are left out"
                );
            } else {
                tracing::info!("every source's values fit in the file again");
            }
            shortfall = (file.left_out, file.status_over_limit);
        }
        let text = file.text;
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
    use std::time::UNIX_EPOCH;

    fn status(name: &str, values: &[(&str, f64)], at: Option<Instant>) -> SourceStatus {
        SourceStatus {
            kind: SourceKind::Script(name.into()),
            interval: Duration::from_secs(10),
            values: values
                .iter()
                .map(|(k, v)| SourceValue::from((k.to_string(), *v)))
                .collect(),
            values_at: at,
            success: at.is_some(),
            duration: Duration::from_millis(20),
            last_success: at.map(|_| UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            runs: 3,
            failures: 1,
            timeouts: 0,
            dropped_lines: 2,
            dropped_keys: 0,
            duplicate_keys: 0,
            discarded_bytes: 0,
        }
    }

    fn settings() -> OutputSettings {
        OutputSettings {
            path: PathBuf::from("/unused"),
            names: Arc::new(ValueNames::new("edge_")),
            node_name: "n1".into(),
            stale_after: 3,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    fn text(statuses: &Statuses, settings: &OutputSettings, now: Instant) -> String {
        file_text(statuses, settings, now).text
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
        let text = text(&statuses, &settings(), now);
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

    /// `n` keys of `width` digits each.
    fn many(prefix: &str, n: usize) -> Vec<(String, f64)> {
        (0..n)
            .map(|i| (format!("{prefix}{i:05}"), i as f64))
            .collect()
    }

    fn source(name: &str, values: Vec<(String, f64)>, now: Instant) -> SourceStatus {
        SourceStatus {
            values: values.into_iter().map(SourceValue::from).collect(),
            ..status(name, &[], Some(now))
        }
    }

    #[test]
    fn sources_that_do_not_fit_are_left_out_whole_and_the_status_stays() {
        let now = Instant::now();
        let statuses = Statuses {
            sources: vec![
                source("first", many("a", 300), now),
                source("big", many("b", 600), now),
                source("small", many("c", 10), now),
            ],
            ..Statuses::default()
        };
        let unlimited = file_text(&statuses, &settings(), now);
        assert!(unlimited.left_out.is_empty());
        // Room for the first and the small one, not for the big one.
        let first_and_small = unlimited.text.len() - 600 * 80;
        let limited = OutputSettings {
            max_file_bytes: first_and_small,
            ..settings()
        };
        let file = file_text(&statuses, &limited, now);
        assert_eq!(file.left_out, [SourceKind::Script("big".into())]);
        assert!(!file.status_over_limit);
        assert!(file.text.len() <= first_and_small, "{}", file.text.len());
        let text = &file.text;
        assert!(text.contains("\nedge_a00299 299\n"));
        assert!(text.contains("\nedge_c00009 9\n"));
        assert!(!text.contains("edge_b0"));
        for (source, written, left_out) in [("first", 300, 0), ("big", 0, 600), ("small", 10, 0)] {
            let labels = format!("{{kind=\"script\",source=\"{source}\"}}");
            assert!(
                text.contains(&format!("edge_sidecar_source_values{labels} {written}\n")),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "edge_sidecar_source_left_out_values{labels} {left_out}\n"
                )),
                "{text}"
            );
            assert!(text.contains(&format!("edge_sidecar_source_success{labels} 1\n")));
        }

        // A limit below the status families alone: every value goes, the status stays.
        let tiny = OutputSettings {
            max_file_bytes: 100,
            ..settings()
        };
        let file = file_text(&statuses, &tiny, now);
        assert!(file.status_over_limit);
        assert_eq!(file.left_out.len(), 3);
        assert!(!file.text.contains("edge_a0"));
        assert!(file.text.contains("edge_sidecar_info{"));
    }

    #[test]
    fn the_file_is_never_longer_than_the_limit_whatever_the_limit() {
        let now = Instant::now();
        let statuses = Statuses {
            sources: vec![
                source("a", many("a", 9), now),
                source("b", many("b", 99), now),
                source("c", many("c", 999), now),
            ],
            ..Statuses::default()
        };
        let status_only = {
            let none = OutputSettings {
                max_file_bytes: 0,
                ..settings()
            };
            file_text(&statuses, &none, now).text.len()
        };
        let full = file_text(&statuses, &settings(), now).text.len();
        for limit in (status_only..=full + 10).step_by(997) {
            let settings = OutputSettings {
                max_file_bytes: limit,
                ..settings()
            };
            let file = file_text(&statuses, &settings, now);
            assert!(file.text.len() <= limit, "{} > {limit}", file.text.len());
            assert!(!file.status_over_limit);
        }
    }

    #[test]
    fn a_name_goes_to_the_sidecar_first_then_to_the_first_source() {
        let now = Instant::now();
        let statuses = Statuses {
            sources: vec![
                // Stored values are checked again: none of these reaches the file.
                status(
                    "a",
                    &[
                        ("temp", 1.0),
                        ("sidecar_source_runs", 5.0),
                        ("sidecar_info", 42.0),
                    ],
                    Some(now),
                ),
                status("b", &[("temp", 2.0), ("hum", 3.0)], Some(now)),
            ],
            ..Statuses::default()
        };
        let text = text(&statuses, &settings(), now);
        assert!(text.contains("\nedge_temp 1\n"));
        assert!(!text.contains("edge_temp 2"));
        assert!(text.contains("\nedge_hum 3\n"));
        assert!(!text.contains("edge_sidecar_source_runs "));
        assert!(!text.contains("edge_sidecar_info 42"));
        assert!(text.contains("edge_sidecar_source_runs_total{kind=\"script\",source=\"a\"} 3\n"));
        assert!(text.contains("edge_sidecar_source_values{kind=\"script\",source=\"a\"} 1\n"));
    }

    #[test]
    fn labelled_values_of_one_key_are_one_family() {
        let now = Instant::now();
        let probe = |id: &str, value: f64| SourceValue {
            key: "temperature_celsius".into(),
            labels: vec![("id", id.to_string())],
            value,
        };
        let statuses = Statuses {
            sources: vec![
                SourceStatus {
                    kind: SourceKind::W1("*".into()),
                    values: vec![
                        probe("28-00000a1b2c3d", 21.5),
                        probe("10-000802d1e2f3", 23.125),
                    ],
                    ..status("unused", &[], Some(now))
                },
                SourceStatus {
                    kind: SourceKind::Iio("bme280".into()),
                    values: vec![SourceValue {
                        key: "temperature_celsius".into(),
                        labels: vec![("device", "iio:device0".into()), ("name", "bme280".into())],
                        value: 20.0,
                    }],
                    ..status("unused", &[], Some(now))
                },
            ],
            ..Statuses::default()
        };
        let text = text(&statuses, &settings(), now);
        assert!(
            text.contains("# HELP edge_temperature_celsius Value of temperature_celsius from the sidecar's sensor sources, a series per device.\n# TYPE edge_temperature_celsius gauge\nedge_temperature_celsius{id=\"28-00000a1b2c3d\"} 21.5\nedge_temperature_celsius{id=\"10-000802d1e2f3\"} 23.125\nedge_temperature_celsius{device=\"iio:device0\",name=\"bme280\"} 20\n"),
            "{text}"
        );
        assert!(
            text.contains("edge_sidecar_source_values{kind=\"w1\",source=\"*\"} 2\n"),
            "{text}"
        );
    }
}
