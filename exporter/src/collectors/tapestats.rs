//! `node_tape_*` from `<sysfs>/class/scsi_tape/st<N>/stats/`, as node_exporter 1.12
//! reads them (procfs' `SCSITapeClass`).
//!
//! Only `st<N>` entries count: the same drive's other device nodes (`nst0`, `st0l`,
//! `st0m`, `st0a`, ...) are skipped. Every file in `stats/` is read, including ones
//! node_exporter does not export, and any unreadable file or known counter that is not
//! a decimal unsigned integer fails the collector with the file named; a counter file
//! that is absent reads as 0. `--collector.tapestats.ignored-devices` (unanchored, as
//! Go's `MatchString`) drops devices by name.
//!
//! No `class/scsi_tape` (no `st` driver) is nothing to report, like node_exporter's
//! ErrNoData.

use std::io;
use std::path::PathBuf;

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "tapestats",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(TapeStats::build(ctx)?)),
};

const IGNORED_FLAG: &str = "collector.tapestats.ignored-devices";

fn args() -> Vec<Arg> {
    vec![Arg::new(IGNORED_FLAG)
        .long(IGNORED_FLAG)
        .default_value("^$")
        .help("Regexp of devices to ignore for tapestats.")]
}

/// The counters of `stats/`, by file name.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TapeCounters {
    pub in_flight: u64,
    pub io_ns: u64,
    pub other_cnt: u64,
    pub read_byte_cnt: u64,
    pub read_cnt: u64,
    pub read_ns: u64,
    pub resid_cnt: u64,
    pub write_byte_cnt: u64,
    pub write_cnt: u64,
    pub write_ns: u64,
}

impl TapeCounters {
    fn slot(&mut self, file: &str) -> Option<&mut u64> {
        Some(match file {
            "in_flight" => &mut self.in_flight,
            "io_ns" => &mut self.io_ns,
            "other_cnt" => &mut self.other_cnt,
            "read_byte_cnt" => &mut self.read_byte_cnt,
            "read_cnt" => &mut self.read_cnt,
            "read_ns" => &mut self.read_ns,
            "resid_cnt" => &mut self.resid_cnt,
            "write_byte_cnt" => &mut self.write_byte_cnt,
            "write_cnt" => &mut self.write_cnt,
            "write_ns" => &mut self.write_ns,
            _ => return None,
        })
    }
}

pub struct TapeStats {
    class: PathBuf,
    ignored: Regex,
}

/// `st` followed by digits only: the rewinding, auto-mode device of a drive.
fn is_tape_device(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl TapeStats {
    fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let pattern = ctx.string(IGNORED_FLAG).unwrap_or_else(|| "^$".into());
        let ignored = Regex::new(&pattern).map_err(|e| {
            ConfigError::new(
                format!("--{IGNORED_FLAG}"),
                format!("not a valid regular expression: {e}"),
            )
        })?;
        Ok(TapeStats {
            class: ctx.paths.sys("class/scsi_tape"),
            ignored,
        })
    }

    /// The tapes that are not ignored, in name order, with their counters.
    pub fn read(&self) -> Result<Vec<(String, TapeCounters)>, CollectError> {
        let entries = std::fs::read_dir(&self.class).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CollectError::NoData(format!("{} does not exist", self.class.display()))
            } else {
                CollectError::read(&self.class, e)
            }
        })?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.class, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_tape_device(&name) {
                names.push(name);
            }
        }
        names.sort();
        let mut tapes = Vec::with_capacity(names.len());
        for name in names {
            // procfs reads a tape before node_exporter filters it out, so an ignored
            // tape with a broken stats/ still fails the collector.
            let counters = self.read_counters(&name)?;
            if !self.ignored.is_match(&name) {
                tapes.push((name, counters));
            }
        }
        Ok(tapes)
    }

    fn read_counters(&self, name: &str) -> Result<TapeCounters, CollectError> {
        let stats = self.class.join(name).join("stats");
        // A tape without `stats/` is no data in node_exporter (procfs passes the
        // ReadDir error up unwrapped), not a failure; both report `success 0`.
        let entries = std::fs::read_dir(&stats).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CollectError::NoData(format!("{} does not exist", stats.display()))
            } else {
                CollectError::read(&stats, e)
            }
        })?;
        let mut counters = TapeCounters::default();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&stats, e))?;
            let path = entry.path();
            let text = read_attribute(&path).map_err(|e| CollectError::read(&path, e))?;
            let file = entry.file_name();
            if let Some(slot) = counters.slot(&file.to_string_lossy()) {
                *slot = text.parse().map_err(|_| {
                    CollectError::parse(&path, 1, format!("not an unsigned integer: {text:?}"))
                })?;
            }
        }
        Ok(counters)
    }
}

const NANOSECONDS: f64 = 0.000000001;

pub fn record(tapes: &[(String, TapeCounters)], out: &mut MetricSet) {
    type Field = fn(&TapeCounters) -> f64;
    let families: [(&'static str, &'static str, MetricKind, Field); 10] = [
        (
            "node_tape_io_now",
            "The number of I/Os currently outstanding to this device.",
            MetricKind::Gauge,
            |c| c.in_flight as f64,
        ),
        (
            "node_tape_io_time_seconds_total",
            "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.",
            MetricKind::Counter,
            |c| c.io_ns as f64 * NANOSECONDS,
        ),
        (
            "node_tape_io_others_total",
            "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
            MetricKind::Counter,
            |c| c.other_cnt as f64,
        ),
        (
            "node_tape_read_bytes_total",
            "The number of bytes read from the tape drive.",
            MetricKind::Counter,
            |c| c.read_byte_cnt as f64,
        ),
        (
            "node_tape_reads_completed_total",
            "The number of read requests issued to the tape drive.",
            MetricKind::Counter,
            |c| c.read_cnt as f64,
        ),
        (
            "node_tape_read_time_seconds_total",
            "The amount of time spent waiting for read requests to complete.",
            MetricKind::Counter,
            |c| c.read_ns as f64 * NANOSECONDS,
        ),
        (
            "node_tape_residual_total",
            "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.",
            MetricKind::Counter,
            |c| c.resid_cnt as f64,
        ),
        (
            "node_tape_written_bytes_total",
            "The number of bytes written to the tape drive.",
            MetricKind::Counter,
            |c| c.write_byte_cnt as f64,
        ),
        (
            "node_tape_writes_completed_total",
            "The number of write requests issued to the tape drive.",
            MetricKind::Counter,
            |c| c.write_cnt as f64,
        ),
        (
            "node_tape_write_time_seconds_total",
            "The amount of time spent waiting for write requests to complete.",
            MetricKind::Counter,
            |c| c.write_ns as f64 * NANOSECONDS,
        ),
    ];
    for (name, help, kind, field) in families {
        let family = out.family(name, help, kind);
        for (device, counters) in tapes {
            family.push(&[("device", device)], field(counters));
        }
    }
}

impl Collector for TapeStats {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let tapes = self.read()?;
        record(&tapes, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn collector(paths: &Paths, ignored: &str) -> TapeStats {
        TapeStats {
            class: paths.sys("class/scsi_tape"),
            ignored: Regex::new(ignored).unwrap(),
        }
    }

    fn scrape(c: &mut TapeStats) -> Result<MetricSet, CollectError> {
        crate::test_support::run(c)
    }

    #[test]
    fn fixture_values_of_every_family() {
        let set = scrape(&mut collector(&fixture_paths(), "^$")).unwrap();
        let v = |name: &str, device: &str| set.value(name, &[("device", device)]);
        // Nanoseconds times 1e-9 as Go computes it, last digit included.
        assert_eq!(v("node_tape_io_now", "st0"), Some(1.0));
        assert_eq!(
            v("node_tape_io_time_seconds_total", "st0"),
            Some(9843.218702314001)
        );
        assert_eq!(v("node_tape_io_others_total", "st0"), Some(1284.0));
        assert_eq!(v("node_tape_read_bytes_total", "st0"), Some(88231796736.0));
        assert_eq!(v("node_tape_reads_completed_total", "st0"), Some(1346311.0));
        assert_eq!(
            v("node_tape_read_time_seconds_total", "st0"),
            Some(2961.0045112320004)
        );
        assert_eq!(v("node_tape_residual_total", "st0"), Some(19.0));
        assert_eq!(
            v("node_tape_written_bytes_total", "st0"),
            Some(1602158903296.0)
        );
        assert_eq!(
            v("node_tape_writes_completed_total", "st0"),
            Some(24445870.0)
        );
        assert_eq!(
            v("node_tape_write_time_seconds_total", "st0"),
            Some(6402.551287104)
        );
        // st1 has no in_flight file: 0. nst0 and st0l are not tapes of their own.
        assert_eq!(v("node_tape_io_now", "st1"), Some(0.0));
        assert_eq!(v("node_tape_reads_completed_total", "st1"), Some(310.0));
        assert_eq!(set.get("node_tape_io_now").unwrap().len(), 2);
        assert_eq!(set.families().len(), 10);
        let lines = rendered(&set, |f| f == "node_tape_io_now");
        assert_eq!(
            lines[..2],
            [
                Line::Help(
                    "node_tape_io_now".into(),
                    "The number of I/Os currently outstanding to this device.".into()
                ),
                Line::Type("node_tape_io_now".into(), "gauge".into()),
            ]
        );
        let lines = rendered(&set, |f| f == "node_tape_residual_total");
        assert_eq!(
            lines[1],
            Line::Type("node_tape_residual_total".into(), "counter".into())
        );
    }

    #[test]
    fn ignored_devices_match_unanchored() {
        let set = scrape(&mut collector(&fixture_paths(), "1")).unwrap();
        let family = set.get("node_tape_io_now").unwrap();
        assert_eq!(family.len(), 1);
        assert_eq!(family.samples()[0].labels[0].1, "st0");
    }

    #[test]
    fn a_bad_counter_names_its_file_and_no_class_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        let err = scrape(&mut collector(&paths, "^$")).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        let stats = root.path().join("sys/class/scsi_tape/st3/stats");
        std::fs::create_dir_all(&stats).unwrap();
        std::fs::write(stats.join("read_cnt"), "-1\n").unwrap();
        let err = scrape(&mut collector(&paths, "^$")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1: not an unsigned integer: \"-1\"",
                stats.join("read_cnt").display()
            )
        );
        // Even an ignored tape is read first, as in node_exporter.
        let err = scrape(&mut collector(&paths, "st3")).unwrap_err();
        assert!(err.to_string().contains("read_cnt"), "{err}");
        assert!(is_tape_device("st12"));
        assert!(!is_tape_device("nst0") && !is_tape_device("st0a") && !is_tape_device("st"));
    }
}
