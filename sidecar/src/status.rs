//! The sidecar's own families (`edge_sidecar_…`): how each source's runs went, the
//! reload and write status, the sidecar's info. [`FAMILIES`] is the one list of them:
//! [`status_metrics`] writes exactly these, and the names a script's key must never
//! take ([`crate::names::ValueNames`]) are derived from it, so a family added here is
//! protected from spoofing without a second list to keep in step.

use std::time::{SystemTime, UNIX_EPOCH};

use edge_common::exposition::{MetricKind, MetricSet};

use crate::source_states::{SourceStatus, Statuses};

/// One source as the file shows it now: its status, and how many of its values the
/// file holds and leaves out.
#[derive(Debug, Clone, Copy)]
pub struct SourceView<'a> {
    pub status: &'a SourceStatus,
    /// Values written to the file now: 0 once the last good values are stale.
    pub written: usize,
    /// Fresh values left out because the file would pass `--max-file-bytes`.
    pub left_out: usize,
}

/// What the sidecar-wide families read.
#[derive(Debug, Clone, Copy)]
pub struct SidecarView<'a> {
    pub statuses: &'a Statuses,
    pub node_name: &'a str,
}

/// One sample of a sidecar-wide family: label pairs and value.
pub type OwnSample = (Vec<(&'static str, String)>, f64);

/// Where a family's samples come from.
#[derive(Clone, Copy)]
pub enum Samples {
    /// One sample per source, labelled `kind` and `source`; `None` writes none for it.
    PerSource(fn(&SourceView) -> Option<f64>),
    /// At most one sample for the whole sidecar.
    Sidecar(fn(&SidecarView) -> Option<OwnSample>),
}

/// One of the sidecar's own families.
#[derive(Clone, Copy)]
pub struct StatusFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub samples: Samples,
}

const fn per_source(
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    value: fn(&SourceView) -> Option<f64>,
) -> StatusFamily {
    StatusFamily {
        name,
        help,
        kind,
        samples: Samples::PerSource(value),
    }
}

const fn sidecar(
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    sample: fn(&SidecarView) -> Option<OwnSample>,
) -> StatusFamily {
    StatusFamily {
        name,
        help,
        kind,
        samples: Samples::Sidecar(sample),
    }
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// Every family the sidecar writes of its own.
pub const FAMILIES: &[StatusFamily] = &[
    per_source(
        "edge_sidecar_source_success",
        "1 if the source's last run succeeded (exit 0 and at least one valid value), else 0.",
        MetricKind::Gauge,
        |s| Some(flag(s.status.success)),
    ),
    per_source(
        "edge_sidecar_source_duration_seconds",
        "How long the source's last run took.",
        MetricKind::Gauge,
        |s| Some(s.status.duration.as_secs_f64()),
    ),
    per_source(
        "edge_sidecar_source_last_success_timestamp_seconds",
        "When the source last succeeded, in unixtime.",
        MetricKind::Gauge,
        |s| s.status.last_success.map(unix_seconds),
    ),
    per_source(
        "edge_sidecar_source_values",
        "Values of the source written to the file now (0 once its last good values are stale).",
        MetricKind::Gauge,
        |s| Some(s.written as f64),
    ),
    per_source(
        "edge_sidecar_source_left_out_values",
        "Fresh values of the source left out of the file now because it would pass --max-file-bytes.",
        MetricKind::Gauge,
        |s| Some(s.left_out as f64),
    ),
    per_source(
        "edge_sidecar_source_runs_total",
        "Runs of the source.",
        MetricKind::Counter,
        |s| Some(s.status.runs as f64),
    ),
    per_source(
        "edge_sidecar_source_failures_total",
        "Runs that failed, timed out or printed no valid value.",
        MetricKind::Counter,
        |s| Some(s.status.failures as f64),
    ),
    per_source(
        "edge_sidecar_source_timeouts_total",
        "Runs killed at the timeout.",
        MetricKind::Counter,
        |s| Some(s.status.timeouts as f64),
    ),
    per_source(
        "edge_sidecar_source_dropped_lines_total",
        "Output lines dropped: not key=value with a valid key and number, or a key that would make one of the sidecar's own names.",
        MetricKind::Counter,
        |s| Some(s.status.dropped_lines as f64),
    ),
    per_source(
        "edge_sidecar_source_dropped_keys_total",
        "Lines dropped because their key was new after --max-keys-per-run keys in the run.",
        MetricKind::Counter,
        |s| Some(s.status.dropped_keys as f64),
    ),
    per_source(
        "edge_sidecar_source_duplicate_keys_total",
        "Keys printed more than once in a run (the last one wins).",
        MetricKind::Counter,
        |s| Some(s.status.duplicate_keys as f64),
    ),
    per_source(
        "edge_sidecar_source_discarded_output_bytes_total",
        "Output bytes past the output limit, discarded.",
        MetricKind::Counter,
        |s| Some(s.status.discarded_bytes as f64),
    ),
    sidecar(
        "edge_sidecar_config_reload_success",
        "1 if the last read of nodes.conf succeeded, 0 if it failed (the last good configuration stays in use).",
        MetricKind::Gauge,
        |v| Some((Vec::new(), flag(v.statuses.reload.success))),
    ),
    sidecar(
        "edge_sidecar_config_last_reload_success_timestamp_seconds",
        "When nodes.conf was last read successfully, in unixtime.",
        MetricKind::Gauge,
        |v| {
            v.statuses
                .reload
                .last_success
                .map(|at| (Vec::new(), unix_seconds(at)))
        },
    ),
    sidecar(
        "edge_sidecar_file_write_failures_total",
        "Writes of the metrics file that failed (the previous file was kept).",
        MetricKind::Counter,
        |v| Some((Vec::new(), v.statuses.write_failures as f64)),
    ),
    sidecar(
        "edge_sidecar_info",
        "The node this sidecar runs for and its version, value is always 1.",
        MetricKind::Gauge,
        |v| {
            Some((
                vec![
                    ("node_name", v.node_name.to_string()),
                    ("version", env!("CARGO_PKG_VERSION").to_string()),
                ],
                1.0,
            ))
        },
    ),
];

/// The sidecar's own families for `sources` (in `nodes.conf` order; each source is
/// unique there, so it has one sample per family).
pub fn status_metrics(sidecar: &SidecarView, sources: &[SourceView]) -> MetricSet {
    let mut set = MetricSet::new();
    for family in FAMILIES {
        match family.samples {
            Samples::PerSource(value) => {
                for source in sources {
                    if let Some(value) = value(source) {
                        let labels = [
                            ("kind", source.status.kind.kind_label()),
                            ("source", source.status.kind.label()),
                        ];
                        set.family(family.name, family.help, family.kind)
                            .push(&labels, value);
                    }
                }
            }
            Samples::Sidecar(sample) => {
                if let Some((labels, value)) = sample(sidecar) {
                    let labels: Vec<(&str, &str)> =
                        labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    set.family(family.name, family.help, family.kind)
                        .push(&labels, value);
                }
            }
        }
    }
    set
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceKind;
    use crate::source_states::ReloadStatus;
    use std::time::{Duration, Instant};

    /// Every family `status_metrics` can write is in FAMILIES, so the reserved names
    /// derived from FAMILIES cover all of them.
    #[test]
    fn writes_only_and_all_the_listed_families() {
        let status = SourceStatus {
            kind: SourceKind::Script("a".into()),
            interval: Duration::from_secs(1),
            values: vec![("x".to_string(), 1.0).into()],
            values_at: Some(Instant::now()),
            success: true,
            duration: Duration::from_millis(5),
            last_success: Some(SystemTime::now()),
            runs: 1,
            failures: 0,
            timeouts: 0,
            dropped_lines: 0,
            dropped_keys: 0,
            duplicate_keys: 0,
            discarded_bytes: 0,
        };
        let statuses = Statuses {
            reload: ReloadStatus {
                success: true,
                last_success: Some(SystemTime::now()),
            },
            ..Statuses::default()
        };
        let set = status_metrics(
            &SidecarView {
                statuses: &statuses,
                node_name: "n",
            },
            &[SourceView {
                status: &status,
                written: 1,
                left_out: 0,
            }],
        );
        let mut written: Vec<&str> = set.families().iter().map(|f| &*f.name).collect();
        let mut listed: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        written.sort();
        listed.sort();
        assert_eq!(written, listed);
        listed.dedup();
        assert_eq!(listed.len(), FAMILIES.len(), "a family is listed twice");
    }
}
