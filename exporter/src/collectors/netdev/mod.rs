//! `node_network_{receive,transmit}_*_total{device}` and `node_network_address_info`,
//! as node_exporter 1.12's netdev collector emits them.
//!
//! `--collector.netdev.label-ifalias` (1.9, off by default) adds an `ifalias` label to the
//! counters: `<sysfs>/class/net/<device>/ifalias`, empty when unreadable; a device without
//! a sysfs directory gets no `ifalias` label, as node_exporter labels only the devices its
//! sysfs netclass read lists.
//!
//! Counters come from an rtnetlink link dump (`rtnl_link_stats64`, the default) or,
//! with `--no-collector.netdev.netlink`, from `<procfs>/net/dev`. Either way they are
//! named with node_exporter's legacy keys (`receive_errs`, `transmit_colls`, …) unless
//! `--collector.netdev.enable-detailed-metrics` is given. Addresses come from an
//! rtnetlink address dump; unlike node_exporter, `--collector.netdev.address-info` is
//! on by default, because edge-master reads node IPs from it.
//!
//! Also unlike node_exporter 1.5: a link without `IFLA_STATS64` falls back to the
//! 32-bit `IFLA_STATS` (1.5 dereferences the missing block), and there is no default
//! `--collector.netdev.device-exclude` (upstream has none; Debian's build has `^lo$`).

pub mod address;
pub mod proc_net_dev;
pub use std::io;
use std::path::PathBuf;

use clap::Arg;
use netlink_packet_route::link::Stats64;

use crate::collector::{switch_args, BuildContext, Collector, CollectorSpec, DeviceFilter};
use crate::error::{CollectError, ConfigError};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

use self::address::{address_labels, interface_address, AddressInfo};
use netlink_packet_route::address::AddressMessage;

use crate::rtnetlink::Link;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netdev",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(NetDev::new(ctx)?)),
};

const DEVICE_INCLUDE: &str = "collector.netdev.device-include";
const DEVICE_EXCLUDE: &str = "collector.netdev.device-exclude";
const ADDRESS_INFO: &str = "collector.netdev.address-info";
const DETAILED: &str = "collector.netdev.enable-detailed-metrics";
const NETLINK: &str = "collector.netdev.netlink";
const LABEL_IFALIAS: &str = "collector.netdev.label-ifalias";

fn args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new(DEVICE_INCLUDE)
            .long(DEVICE_INCLUDE)
            .alias("collector.netdev.device-whitelist")
            .help("Regexp of net devices to include (mutually exclusive to device-exclude)."),
        Arg::new(DEVICE_EXCLUDE)
            .long(DEVICE_EXCLUDE)
            .alias("collector.netdev.device-blacklist")
            .help("Regexp of net devices to exclude (mutually exclusive to device-include)."),
    ];
    args.extend(switch_args(
        ADDRESS_INFO,
        "Collect address-info for every device (default: enabled; --no-collector.netdev.address-info to disable).",
    ));
    args.extend(switch_args(
        DETAILED,
        "Use (incompatible) metric names that provide more detailed stats on Linux",
    ));
    args.extend(switch_args(
        NETLINK,
        "Use netlink to gather stats instead of /proc/net/dev (default: enabled).",
    ));
    args.extend(switch_args(LABEL_IFALIAS, "Add ifAlias label"));
    args
}

/// Where the counters come from.
enum Source {
    Netlink,
    ProcNetDev(PathBuf),
}

pub struct NetDev {
    source: Source,
    filter: DeviceFilter,
    detailed: bool,
    address_info: bool,
    /// `<sysfs>/class/net`, with `--collector.netdev.label-ifalias`.
    ifalias_from: Option<PathBuf>,
}

impl NetDev {
    pub fn new(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let source = if ctx.switch(NETLINK, true) {
            Source::Netlink
        } else {
            Source::ProcNetDev(ctx.paths.proc("net/dev"))
        };
        Ok(NetDev {
            source,
            filter: ctx.device_filter(DEVICE_INCLUDE, DEVICE_EXCLUDE)?,
            detailed: ctx.switch(DETAILED, false),
            address_info: ctx.switch(ADDRESS_INFO, true),
            ifalias_from: ctx
                .switch(LABEL_IFALIAS, false)
                .then(|| ctx.paths.sys("class/net")),
        })
    }
}

/// `node_network_address_info` samples in node_exporter's order.
fn address_infos(messages: &[AddressMessage], links: &[Link]) -> Vec<AddressInfo> {
    let mut addresses: Vec<AddressInfo> = messages
        .iter()
        .filter_map(|message| {
            // Go lists the addresses of the links it knows by index.
            let link = links.iter().find(|l| l.index == message.header.index)?;
            let ip = interface_address(message)?;
            let (address, netmask, scope) = address_labels(ip, message.header.prefix_len);
            Some(AddressInfo {
                address,
                device: link.name.clone(),
                netmask,
                scope,
            })
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The counters of the devices a scrape reports: node_exporter's keys, and per
/// device (sorted by name) the values in key order.
pub struct CounterTable {
    pub keys: &'static [&'static str],
    pub devices: Vec<(String, Vec<u64>)>,
}

impl CounterTable {
    /// `ifaliases`: per device (in `devices` order) its `ifalias` label, when the flag
    /// asks for it; empty otherwise.
    pub fn record(&self, ifaliases: &[Option<String>], out: &mut MetricSet) {
        for (column, key) in self.keys.iter().enumerate() {
            let family = out.family(
                format!("node_network_{key}_total"),
                format!("Network device statistic {key}."),
                MetricKind::Counter,
            );
            for (index, (device, values)) in self.devices.iter().enumerate() {
                let value = values[column] as f64;
                match ifaliases.get(index).and_then(Option::as_deref) {
                    Some(alias) => family.push(&[("device", device), ("ifalias", alias)], value),
                    None => family.push(&[("device", device)], value),
                }
            }
        }
    }
}

/// A device's `ifalias` label: None without a sysfs directory, "" when unreadable.
fn ifalias(class_net: &std::path::Path, device: &str) -> Option<String> {
    let dir = class_net.join(device);
    if !dir.is_dir() {
        return None;
    }
    Some(crate::read::read_attribute(&dir.join("ifalias")).unwrap_or_default())
}

/// `rtnl_link_stats64` under node_exporter's legacy keys: the names and sums of
/// `/proc/net/dev` (the kernel's net-procfs.c), plus `receive_nohandler`.
pub const NETLINK_LEGACY_KEYS: [&str; 17] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "receive_nohandler",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

pub fn netlink_legacy_values(s: &Stats64) -> Vec<u64> {
    vec![
        s.rx_bytes,
        s.rx_packets,
        s.rx_errors,
        s.rx_dropped.wrapping_add(s.rx_missed_errors),
        s.rx_fifo_errors,
        s.rx_frame_errors
            .wrapping_add(s.rx_length_errors)
            .wrapping_add(s.rx_over_errors)
            .wrapping_add(s.rx_crc_errors),
        s.rx_compressed,
        s.multicast,
        s.rx_nohandler,
        s.tx_bytes,
        s.tx_packets,
        s.tx_errors,
        s.tx_dropped,
        s.tx_fifo_errors,
        s.collisions,
        s.tx_carrier_errors
            .wrapping_add(s.tx_aborted_errors)
            .wrapping_add(s.tx_heartbeat_errors)
            .wrapping_add(s.tx_window_errors),
        s.tx_compressed,
    ]
}

/// `rtnl_link_stats64` under `--collector.netdev.enable-detailed-metrics` keys.
pub const NETLINK_DETAILED_KEYS: [&str; 24] = [
    "receive_packets",
    "transmit_packets",
    "receive_bytes",
    "transmit_bytes",
    "receive_errors",
    "transmit_errors",
    "receive_dropped",
    "transmit_dropped",
    "multicast",
    "collisions",
    "receive_length_errors",
    "receive_over_errors",
    "receive_crc_errors",
    "receive_frame_errors",
    "receive_fifo_errors",
    "receive_missed_errors",
    "transmit_aborted_errors",
    "transmit_carrier_errors",
    "transmit_fifo_errors",
    "transmit_heartbeat_errors",
    "transmit_window_errors",
    "receive_compressed",
    "transmit_compressed",
    "receive_nohandler",
];

pub fn netlink_detailed_values(s: &Stats64) -> Vec<u64> {
    vec![
        s.rx_packets,
        s.tx_packets,
        s.rx_bytes,
        s.tx_bytes,
        s.rx_errors,
        s.tx_errors,
        s.rx_dropped,
        s.tx_dropped,
        s.multicast,
        s.collisions,
        s.rx_length_errors,
        s.rx_over_errors,
        s.rx_crc_errors,
        s.rx_frame_errors,
        s.rx_fifo_errors,
        s.rx_missed_errors,
        s.tx_aborted_errors,
        s.tx_carrier_errors,
        s.tx_fifo_errors,
        s.tx_heartbeat_errors,
        s.tx_window_errors,
        s.rx_compressed,
        s.tx_compressed,
        s.rx_nohandler,
    ]
}

impl Collector for NetDev {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut table = match &self.source {
            Source::Netlink => {
                let legacy = !self.detailed;
                let devices = sources
                    .links()?
                    .iter()
                    .filter(|link| self.filter.accepts(&link.name))
                    .filter_map(|link| {
                        let stats = link.stats.as_ref()?;
                        let values = if legacy {
                            netlink_legacy_values(stats)
                        } else {
                            netlink_detailed_values(stats)
                        };
                        Some((link.name.clone(), values))
                    })
                    .collect();
                CounterTable {
                    keys: if legacy {
                        &NETLINK_LEGACY_KEYS
                    } else {
                        &NETLINK_DETAILED_KEYS
                    },
                    devices,
                }
            }
            Source::ProcNetDev(path) => {
                let rows = proc_net_dev::parse_proc_net_dev(sources.table(path)?, path)?;
                CounterTable {
                    keys: if self.detailed {
                        &proc_net_dev::DETAILED_KEYS
                    } else {
                        &proc_net_dev::LEGACY_KEYS
                    },
                    devices: rows
                        .into_iter()
                        .filter(|(name, _)| self.filter.accepts(name))
                        .map(|(name, values)| (name, values.to_vec()))
                        .collect(),
                }
            }
        };
        // node_exporter's registry sorts samples by label value.
        table.devices.sort_by(|a, b| a.0.cmp(&b.0));
        let ifaliases: Vec<Option<String>> = match &self.ifalias_from {
            Some(class_net) => table
                .devices
                .iter()
                .map(|(device, _)| ifalias(class_net, device))
                .collect(),
            None => Vec::new(),
        };
        table.record(&ifaliases, out);

        if self.address_info {
            // node_exporter reports every device's addresses, ignoring the device filter.
            let messages = sources.addresses()?;
            let addresses = address_infos(&messages, sources.links()?);
            let family = out.family(
                "node_network_address_info",
                "node network address by device",
                MetricKind::Gauge,
            );
            for a in &addresses {
                family.push(
                    &[
                        ("address", &a.address),
                        ("device", &a.device),
                        ("netmask", &a.netmask),
                        ("scope", a.scope),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use std::path::Path;

    fn build(paths: &Paths, flags: &[&str]) -> Result<NetDev, ConfigError> {
        let matches = clap::Command::new("test")
            .args(args())
            .try_get_matches_from(std::iter::once("test").chain(flags.iter().copied()))
            .unwrap();
        NetDev::new(&BuildContext {
            paths,
            matches: &matches,
        })
    }

    fn scrape(netdev: &mut NetDev) -> MetricSet {
        let mut out = MetricSet::new();
        netdev.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    fn stats() -> Stats64 {
        let mut s = Stats64::default();
        s.rx_bytes = 1000;
        s.rx_packets = 10;
        s.rx_errors = 7;
        s.rx_dropped = 3;
        s.rx_missed_errors = 2;
        s.rx_frame_errors = 1;
        s.rx_length_errors = 10;
        s.rx_over_errors = 100;
        s.rx_crc_errors = 1000;
        s.rx_fifo_errors = 4;
        s.multicast = 5;
        s.rx_compressed = 6;
        s.rx_nohandler = 8;
        s.tx_bytes = 2000;
        s.tx_packets = 20;
        s.tx_errors = 9;
        s.tx_dropped = 11;
        s.tx_fifo_errors = 12;
        s.collisions = 13;
        s.tx_carrier_errors = 1;
        s.tx_aborted_errors = 20;
        s.tx_heartbeat_errors = 300;
        s.tx_window_errors = 4000;
        s.tx_compressed = 14;
        s
    }

    #[test]
    fn netlink_counters_fold_like_proc_net_dev() {
        let legacy: Vec<(&str, u64)> = NETLINK_LEGACY_KEYS
            .into_iter()
            .zip(netlink_legacy_values(&stats()))
            .collect();
        assert_eq!(
            legacy,
            vec![
                ("receive_bytes", 1000),
                ("receive_packets", 10),
                ("receive_errs", 7),
                ("receive_drop", 5),
                ("receive_fifo", 4),
                ("receive_frame", 1111),
                ("receive_compressed", 6),
                ("receive_multicast", 5),
                ("receive_nohandler", 8),
                ("transmit_bytes", 2000),
                ("transmit_packets", 20),
                ("transmit_errs", 9),
                ("transmit_drop", 11),
                ("transmit_fifo", 12),
                ("transmit_colls", 13),
                ("transmit_carrier", 4321),
                ("transmit_compressed", 14),
            ]
        );
        let detailed = netlink_detailed_values(&stats());
        assert_eq!(detailed.len(), NETLINK_DETAILED_KEYS.len());
        let value = |key| {
            detailed[NETLINK_DETAILED_KEYS
                .iter()
                .position(|k| *k == key)
                .unwrap()]
        };
        assert_eq!(value("multicast"), 5);
        assert_eq!(value("collisions"), 13);
        assert_eq!(value("receive_missed_errors"), 2);
        assert_eq!(value("transmit_window_errors"), 4000);
    }

    #[test]
    fn a_table_records_counters_sorted_by_device() {
        let table = CounterTable {
            keys: &["receive_bytes", "transmit_colls"],
            devices: vec![
                ("eth0".into(), vec![1, 2]),
                ("lo".into(), vec![3, u64::MAX]),
            ],
        };
        let mut out = MetricSet::new();
        table.record(&[], &mut out);
        let family = out.get("node_network_transmit_colls_total").unwrap();
        assert_eq!(family.help, "Network device statistic transmit_colls.");
        assert_eq!(family.kind, MetricKind::Counter);
        assert_eq!(family.samples().len(), 2);
        assert_eq!(
            out.value("node_network_receive_bytes_total", &[("device", "lo")]),
            Some(3.0)
        );
        assert_eq!(
            out.value("node_network_transmit_colls_total", &[("device", "lo")]),
            Some(u64::MAX as f64)
        );
    }

    #[test]
    fn include_and_exclude_are_mutually_exclusive() {
        let paths = Paths::default();
        let err = build(
            &paths,
            &[
                "--collector.netdev.device-include=^eth",
                "--collector.netdev.device-exclude=^lo$",
            ],
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "--collector.netdev.device-include: cannot be combined with --collector.netdev.device-exclude"
        );
        // The deprecated names still work.
        let netdev = build(&paths, &["--collector.netdev.device-blacklist=^lo$"]).unwrap();
        assert!(!netdev.filter.accepts("lo") && netdev.filter.accepts("eth0"));
        let netdev = build(&paths, &["--collector.netdev.device-whitelist=^lo$"]).unwrap();
        assert!(netdev.filter.accepts("lo") && !netdev.filter.accepts("eth0"));
    }

    /// The families netdev emits (the rest of `node_network_*` is netclass's).
    fn is_netdev_family(name: &str) -> bool {
        (name.starts_with("node_network_receive_") || name.starts_with("node_network_transmit_"))
            && name.ends_with("_total")
    }

    #[test]
    fn proc_net_dev_of_the_fixture_matches_node_exporter() {
        let paths = Paths::under(&crate::test_support::fixtures());
        let flags = [
            "--no-collector.netdev.netlink",
            "--no-collector.netdev.address-info",
        ];
        let set = scrape(&mut build(&paths, &flags).unwrap());
        let expected = crate::test_support::reference(is_netdev_family);
        assert_eq!(expected.len(), 16 * 5);
        assert_eq!(
            crate::test_support::rendered(&set, is_netdev_family),
            expected
        );
        // Spot checks, with exact values from tests/fixtures/proc/net/dev.
        let value = |name, device| set.value(name, &[("device", device)]).unwrap();
        assert_eq!(
            value("node_network_receive_bytes_total", "eth0"),
            987654321.0
        );
        assert_eq!(value("node_network_receive_drop_total", "wlan0"), 283.0);
        assert_eq!(value("node_network_transmit_carrier_total", "lo"), 13.0);
        assert_eq!(
            value("node_network_transmit_compressed_total", "wlan0"),
            254.0
        );
        assert!(set.get("node_network_receive_nohandler_total").is_none());
    }

    #[test]
    fn label_ifalias_adds_the_sysfs_alias() {
        let paths = Paths::under(&crate::test_support::fixtures());
        let flags = [
            "--no-collector.netdev.netlink",
            "--no-collector.netdev.address-info",
            "--collector.netdev.label-ifalias",
        ];
        let set = scrape(&mut build(&paths, &flags).unwrap());
        let bytes = |labels: &[(&str, &str)]| set.value("node_network_receive_bytes_total", labels);
        assert_eq!(
            bytes(&[("device", "eth0"), ("ifalias", "uplink to switch1")]),
            Some(987654321.0)
        );
        assert!(bytes(&[("device", "wlan0"), ("ifalias", "")]).is_some());
        let samples = set
            .get("node_network_receive_bytes_total")
            .unwrap()
            .samples();
        assert!(samples.iter().all(|s| s.labels.len() == 2), "{samples:?}");
        // Off by default.
        let flags = [
            "--no-collector.netdev.netlink",
            "--no-collector.netdev.address-info",
        ];
        let set = scrape(&mut build(&paths, &flags).unwrap());
        let samples = set
            .get("node_network_receive_bytes_total")
            .unwrap()
            .samples();
        assert!(samples.iter().all(|s| s.labels.len() == 1), "{samples:?}");
        // A device with no sysfs directory has no ifalias label.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ifalias(dir.path(), "eth0"), None);
        std::fs::create_dir(dir.path().join("eth0")).unwrap();
        assert_eq!(ifalias(dir.path(), "eth0").as_deref(), Some(""));
    }

    #[test]
    fn proc_net_dev_detailed_names_and_filter() {
        let paths = Paths::under(&crate::test_support::fixtures());
        let flags = [
            "--no-collector.netdev.netlink",
            "--no-collector.netdev.address-info",
            "--collector.netdev.enable-detailed-metrics",
            "--collector.netdev.device-include=^(eth|wl)",
        ];
        let set = scrape(&mut build(&paths, &flags).unwrap());
        assert_eq!(set.families().len(), 16);
        let errors = set.get("node_network_receive_errors_total").unwrap();
        let samples = errors.samples();
        let devices: Vec<&str> = samples.iter().map(|s| s.labels[0].1.as_str()).collect();
        assert_eq!(devices, ["eth0", "wlan0"]);
        assert_eq!(errors.samples()[1].value, 561.0);
        assert_eq!(
            set.value("node_network_transmit_dropped_total", &[("device", "eth0")]),
            Some(130.0)
        );
        assert!(set.get("node_network_receive_errs_total").is_none());
    }

    #[test]
    fn an_unreadable_proc_net_dev_fails_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/dev"), "a\nb\neth0: 1 2 x\n").unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let flags = [
            "--no-collector.netdev.netlink",
            "--no-collector.netdev.address-info",
        ];
        let err = build(&paths, &flags)
            .unwrap()
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("net/dev:3: receive_errs: not a number: \"x\""),
            "{err}"
        );
    }

    #[test]
    fn netlink_reads_this_hosts_loopback() {
        let paths = Paths::default();
        let mut netdev = build(&paths, &["--no-collector.netdev.address-info"]).unwrap();
        let rx_bytes = |set: &MetricSet| {
            set.value("node_network_receive_bytes_total", &[("device", "lo")])
                .expect("lo has counters")
        };
        let sysfs = || {
            crate::read::read_u64_attribute(Path::new("/sys/class/net/lo/statistics/rx_bytes"))
                .unwrap() as f64
        };
        let before_sysfs = sysfs();
        let first = scrape(&mut netdev);
        let second = scrape(&mut netdev);
        let after_sysfs = sysfs();
        assert!(rx_bytes(&first) <= rx_bytes(&second));
        // Other tests may talk over lo meanwhile: the reads must fall between.
        assert!(before_sysfs <= rx_bytes(&first) && rx_bytes(&second) <= after_sysfs);
        let family = first.get("node_network_receive_nohandler_total").unwrap();
        assert_eq!(family.help, "Network device statistic receive_nohandler.");
        assert_eq!(first.families().len(), 17);
        assert!(first.get("node_network_address_info").is_none());
    }

    #[test]
    fn netlink_detailed_names_and_device_filter() {
        let paths = Paths::default();
        let mut netdev = build(
            &paths,
            &[
                "--collector.netdev.enable-detailed-metrics",
                "--collector.netdev.device-exclude=^lo$",
                "--no-collector.netdev.address-info",
            ],
        )
        .unwrap();
        let set = scrape(&mut netdev);
        assert_eq!(set.families().len(), 24);
        let family = set.get("node_network_collisions_total").unwrap();
        assert!(family.samples().iter().all(|s| s.labels[0].1 != "lo"));
    }

    #[test]
    fn address_info_is_on_by_default_and_unfiltered() {
        let paths = Paths::default();
        let mut netdev = build(&paths, &["--collector.netdev.device-include=^$"]).unwrap();
        let set = scrape(&mut netdev);
        // No device passes the filter, but address_info still lists lo's addresses.
        assert!(set
            .get("node_network_receive_bytes_total")
            .unwrap()
            .samples()
            .is_empty());
        let family = set.get("node_network_address_info").unwrap();
        assert_eq!(family.help, "node network address by device");
        assert_eq!(
            set.value(
                "node_network_address_info",
                &[("address", "127.0.0.1"), ("device", "lo")]
            ),
            Some(1.0)
        );
        let samples = family.samples();
        let lo = samples
            .iter()
            .find(|s| s.labels.iter().any(|(_, v)| v == "127.0.0.1"))
            .unwrap();
        let labels: Vec<(&str, &str)> = lo.labels.iter().map(|(k, v)| (&**k, v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("address", "127.0.0.1"),
                ("device", "lo"),
                ("netmask", "8"),
                ("scope", "link-local")
            ]
        );
    }
}
