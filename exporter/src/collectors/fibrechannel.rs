//! Fibre Channel host adapters: `node_fibrechannel_info` (the attributes of
//! `<sysfs>/class/fc_host/<host>/` as labels) and one `node_fibrechannel_*_total`
//! counter per file of `<host>/statistics/`.
//!
//! The statistics are hexadecimal (`0x2ac`); an HBA writes all ones for a counter its
//! firmware does not keep, and such a counter is left out, as node_exporter leaves it
//! out. Drivers may omit attributes (an empty label then) and some statistics files
//! are write-only or answer EINVAL/EOPNOTSUPP (skipped). Without `class/fc_host`
//! (no FC driver loaded), or when a host has no `statistics/`, there is no data, as in
//! node_exporter. `port_id`, `port_name` and `fabric_name` lose their `0x` prefix.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{parse_prefixed_u64, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "fibrechannel",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(FibreChannel::new(ctx.paths))),
};

pub struct FibreChannel {
    class_dir: PathBuf,
}

impl FibreChannel {
    pub fn new(paths: &Paths) -> Self {
        FibreChannel {
            class_dir: paths.sys("class/fc_host"),
        }
    }
}

/// The info labels in label-name order, with the attribute each comes from and
/// whether its `0x` is dropped. `fc_host` (the directory name) has no file.
const INFO: [(&str, &str, bool); 11] = [
    ("dev_loss_tmo", "dev_loss_tmo", false),
    ("fabric_name", "fabric_name", true),
    ("fc_host", "", false),
    ("port_id", "port_id", true),
    ("port_name", "port_name", true),
    ("port_state", "port_state", false),
    ("port_type", "port_type", false),
    ("speed", "speed", false),
    ("supported_classes", "supported_classes", false),
    ("supported_speeds", "supported_speeds", false),
    ("symbolic_name", "symbolic_name", false),
];

/// The exported statistics: file, metric name, HELP; in metric-name order.
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "node_fibrechannel_dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "node_fibrechannel_error_frames_total",
        "Number of errors in frames",
    ),
    (
        "fcp_packet_aborts",
        "node_fibrechannel_fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
    (
        "invalid_crc_count",
        "node_fibrechannel_invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    (
        "invalid_tx_word_count",
        "node_fibrechannel_invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "node_fibrechannel_link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_signal_count",
        "node_fibrechannel_loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "loss_of_sync_count",
        "node_fibrechannel_loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "nos_count",
        "node_fibrechannel_nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "rx_frames",
        "node_fibrechannel_rx_frames_total",
        "Number of frames received",
    ),
    (
        "rx_words",
        "node_fibrechannel_rx_words_total",
        "Number of words received by host port",
    ),
    (
        "seconds_since_last_reset",
        "node_fibrechannel_seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "tx_frames",
        "node_fibrechannel_tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "node_fibrechannel_tx_words_total",
        "Number of words transmitted by host port",
    ),
];

/// One host: its info label values (in [`INFO`] order) and its statistics (in
/// [`COUNTERS`] order; `None` when absent or not kept by the firmware).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcHost {
    pub info: [String; 11],
    pub counters: [Option<u64>; 14],
}

/// Errors of a sysfs read that mean "this attribute is not there": the file is absent,
/// write-only, or the driver refuses it.
fn absent(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
        || matches!(
            error.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
        )
}

/// Reads one host directory.
pub fn read_host(host_dir: &Path, name: &str) -> Result<FcHost, CollectError> {
    let dir = AttributeDir::open(host_dir).map_err(|e| CollectError::read(host_dir, e))?;
    let mut info: [String; 11] = Default::default();
    for (slot, (_, file, strip)) in info.iter_mut().zip(INFO) {
        if file.is_empty() {
            *slot = name.to_string();
            continue;
        }
        match dir.read(file) {
            Ok(value) => {
                *slot = match value.get(2..) {
                    Some(rest) if strip && !rest.is_empty() => rest.to_string(),
                    _ => value,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CollectError::read(&dir.path_of(file), e)),
        }
    }

    let statistics = host_dir.join("statistics");
    let stats = AttributeDir::open(&statistics).map_err(|e| CollectError::read(&statistics, e))?;
    let mut counters = [None; 14];
    for (slot, (file, _, _)) in counters.iter_mut().zip(COUNTERS) {
        let text = match stats.read(file) {
            Ok(text) => text,
            Err(e) if absent(&e) => continue,
            Err(e) => return Err(CollectError::read(&stats.path_of(file), e)),
        };
        let value = parse_prefixed_u64(&text).ok_or_else(|| {
            CollectError::parse(&stats.path_of(file), 1, format!("not a number: {text:?}"))
        })?;
        // All ones: the firmware does not keep this counter.
        *slot = (value != u64::MAX).then_some(value);
    }
    Ok(FcHost { info, counters })
}

/// Every host of the class, sorted by name.
pub fn read_hosts(class_dir: &Path) -> Result<Vec<FcHost>, CollectError> {
    let entries = std::fs::read_dir(class_dir).map_err(|e| CollectError::read(class_dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CollectError::read(class_dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    names
        .iter()
        .map(|name| read_host(&class_dir.join(name), name))
        .collect()
}

impl Collector for FibreChannel {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let hosts = match read_hosts(&self.class_dir) {
            // node_exporter: a missing class, or a host without statistics/, is no data.
            Err(CollectError::Read { path, source })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: fibrechannel statistics not found",
                    path.display()
                )))
            }
            other => other?,
        };
        let info = out.family(
            "node_fibrechannel_info",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
            MetricKind::Gauge,
        );
        for host in &hosts {
            let labels: Vec<(&str, &str)> = INFO
                .iter()
                .zip(&host.info)
                .map(|((label, _, _), value)| (*label, value.as_str()))
                .collect();
            info.push(&labels, 1.0);
        }
        info.sort_series();
        for (i, (_, name, help)) in COUNTERS.into_iter().enumerate() {
            for host in &hosts {
                if let Some(value) = host.counters[i] {
                    out.family(name, help, MetricKind::Counter)
                        .push(&[("fc_host", &host.info[2])], value as f64);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        FibreChannel::new(paths).update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    #[test]
    fn reports_the_fixture_host() {
        let set = scrape(&fixture_paths()).unwrap();
        let info = rendered(&set, |n| n == "node_fibrechannel_info");
        let expected: Vec<(String, String)> = [
            ("dev_loss_tmo", "30"),
            ("fabric_name", "0"),
            ("fc_host", "host1"),
            ("port_id", "021f40"),
            ("port_name", "10000090fa9b2c31"),
            ("port_state", "Online"),
            ("port_type", "NPort (fabric via point-to-point)"),
            ("speed", "16 Gbit"),
            ("supported_classes", "Class 3"),
            ("supported_speeds", "4 Gbit, 8 Gbit, 16 Gbit"),
            (
                "symbolic_name",
                "Emulex LPe16002B-M6 FV11.4.204.20 DV12.8.0.10 HN:edge01 OS:Linux",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            info,
            vec![
                Line::Help(
                    "node_fibrechannel_info".into(),
                    "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.".into()
                ),
                Line::Type("node_fibrechannel_info".into(), "gauge".into()),
                Line::Sample("node_fibrechannel_info".into(), expected, 1.0),
            ]
        );
        let host = [("fc_host", "host1")];
        let value = |name| set.value(name, &host);
        assert_eq!(
            value("node_fibrechannel_dumped_frames_total"),
            None,
            "all ones"
        );
        assert_eq!(value("node_fibrechannel_error_frames_total"), Some(3.0));
        assert_eq!(
            value("node_fibrechannel_fcp_packet_aborts_total"),
            Some(19.0)
        );
        assert_eq!(value("node_fibrechannel_invalid_crc_total"), Some(2.0));
        assert_eq!(
            value("node_fibrechannel_invalid_tx_words_total"),
            Some(86.0)
        );
        assert_eq!(value("node_fibrechannel_link_failure_total"), Some(5.0));
        assert_eq!(value("node_fibrechannel_loss_of_signal_total"), Some(17.0));
        assert_eq!(value("node_fibrechannel_loss_of_sync_total"), Some(6.0));
        assert_eq!(
            value("node_fibrechannel_nos_total"),
            None,
            "EOPNOTSUPP on hardware: file absent here"
        );
        assert_eq!(
            value("node_fibrechannel_rx_frames_total"),
            Some(24_014_589.0)
        );
        assert_eq!(
            value("node_fibrechannel_rx_words_total"),
            Some(6_090_442_520.0)
        );
        assert_eq!(
            value("node_fibrechannel_seconds_since_last_reset_total"),
            Some(5_126_931.0)
        );
        assert_eq!(
            value("node_fibrechannel_tx_frames_total"),
            Some(15_839_007.0)
        );
        assert_eq!(
            value("node_fibrechannel_tx_words_total"),
            Some(3_964_802_244.0)
        );
        let rx = rendered(&set, |n| n == "node_fibrechannel_rx_frames_total");
        assert_eq!(
            rx[..2],
            [
                Line::Help(
                    "node_fibrechannel_rx_frames_total".into(),
                    "Number of frames received".into()
                ),
                Line::Type("node_fibrechannel_rx_frames_total".into(), "counter".into()),
            ]
        );
        // 13 families with one sample (nos and dumped_frames left out) plus info.
        assert_eq!(
            rendered(&set, |n| n.starts_with("node_fibrechannel")).len(),
            13 * 3
        );
    }

    #[test]
    fn missing_class_or_statistics_is_no_data_and_bad_values_fail() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        let host = dir.path().join("sys/class/fc_host/host3");
        std::fs::create_dir_all(&host).unwrap();
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        std::fs::create_dir(host.join("statistics")).unwrap();
        std::fs::write(host.join("statistics/tx_frames"), "0xzz\n").unwrap();
        let err = scrape(&paths).unwrap_err().to_string();
        assert!(
            err.ends_with("host3/statistics/tx_frames:1: not a number: \"0xzz\""),
            "{err}"
        );
        std::fs::write(host.join("statistics/tx_frames"), "0x10\n").unwrap();
        let set = scrape(&paths).unwrap();
        assert_eq!(
            set.value(
                "node_fibrechannel_info",
                &[("fc_host", "host3"), ("speed", "")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.value("node_fibrechannel_tx_frames_total", &[("fc_host", "host3")]),
            Some(16.0)
        );
    }
}
