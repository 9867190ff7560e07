//! `node_arp_entries{device}`: the IPv4 neighbour (ARP) entries per interface, and with
//! `--collector.arp.netlink` (the default) `node_arp_states{device,state}` too.
//!
//! The netlink mode dumps the IPv4 neighbour table over the scrape's rtnetlink socket
//! (RTM_GETNEIGH) and names each entry's link from the link dump other collectors share;
//! entries in state NOARP (multicast, broadcast, loopback: not ARP at all) are left out,
//! which is what `/proc/net/arp` leaves out too. `--no-collector.arp.netlink` reads
//! `<procfs>/net/arp` instead, which has no states. `--collector.arp.device-include` /
//! `-exclude` pick interfaces by name in both modes.
//!
//! The state label is the NUD state's name (`reachable`, `stale`, `delay`, `probe`,
//! `failed`, `incomplete`, `permanent`), or empty for an entry in none of those (NONE,
//! or a combination), as node_exporter writes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Arg;

use crate::collector::{switch_args, BuildContext, Collector, CollectorSpec, DeviceFilter};
use crate::error::{CollectError, ConfigError};
use crate::read::read_table_string;
use crate::rtnetlink::Neighbour;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "arp",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(Arp::new(ctx)?)),
};

const INCLUDE: &str = "collector.arp.device-include";
const EXCLUDE: &str = "collector.arp.device-exclude";
const NETLINK: &str = "collector.arp.netlink";

fn args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new(INCLUDE)
            .long(INCLUDE)
            .help("Regexp of arp devices to include (mutually exclusive to device-exclude)."),
        Arg::new(EXCLUDE)
            .long(EXCLUDE)
            .help("Regexp of arp devices to exclude (mutually exclusive to device-include)."),
    ];
    args.extend(switch_args(
        NETLINK,
        "Use netlink to gather stats instead of /proc/net/arp.",
    ));
    args
}

pub struct Arp {
    filter: DeviceFilter,
    netlink: bool,
    proc_arp: PathBuf,
}

impl Arp {
    fn new(ctx: &BuildContext) -> Result<Self, ConfigError> {
        Ok(Arp {
            filter: ctx.device_filter(INCLUDE, EXCLUDE)?,
            netlink: ctx.switch(NETLINK, true),
            proc_arp: ctx.paths.proc("net/arp"),
        })
    }
}

/// `linux/neighbour.h`'s NUD states that have a name in node_exporter's map.
const NUD_NOARP: u16 = 0x40;
const STATE_NAMES: [(u16, &str); 7] = [
    (0x01, "incomplete"),
    (0x02, "reachable"),
    (0x04, "stale"),
    (0x08, "delay"),
    (0x10, "probe"),
    (0x20, "failed"),
    (0x80, "permanent"),
];

fn state_name(state: u16) -> &'static str {
    STATE_NAMES
        .iter()
        .find(|(bits, _)| *bits == state)
        .map_or("", |(_, name)| name)
}

/// Entries per device, and per device and state name (netlink only).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ArpCounts {
    pub entries: BTreeMap<String, u64>,
    pub states: BTreeMap<(String, &'static str), u64>,
}

/// Counts the neighbours of the dump per link name; a neighbour whose link `name_of`
/// does not know (gone between the two dumps) is skipped.
pub fn count_neighbours(
    neighbours: &[Neighbour],
    name_of: impl Fn(u32) -> Option<String>,
) -> ArpCounts {
    let mut counts = ArpCounts::default();
    for neighbour in neighbours {
        if neighbour.state & NUD_NOARP != 0 {
            continue;
        }
        let Some(device) = name_of(neighbour.ifindex) else {
            continue;
        };
        *counts
            .states
            .entry((device.clone(), state_name(neighbour.state)))
            .or_default() += 1;
        *counts.entries.entry(device).or_default() += 1;
    }
    counts
}

/// Counts the entries of `/proc/net/arp` per device (its last column).
pub fn parse_proc_arp(text: &str, path: &Path) -> Result<BTreeMap<String, u64>, CollectError> {
    let mut entries = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let columns: Vec<&str> = line.split_whitespace().collect();
        match columns.len() {
            // Empty, or the header ("IP address HW type Flags HW address Mask Device").
            0 | 9 => continue,
            6 => {
                let ip = columns[0];
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(CollectError::parse(
                        path,
                        index + 1,
                        format!("not an IP address: {ip:?}"),
                    ));
                }
                *entries.entry(columns[5].to_string()).or_default() += 1;
            }
            n => {
                return Err(CollectError::parse(
                    path,
                    index + 1,
                    format!("{n} columns found, but expected 6"),
                ))
            }
        }
    }
    Ok(entries)
}

impl Collector for Arp {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let counts = if self.netlink {
            let neighbours = sources.ipv4_neighbours()?;
            let links = sources.links()?;
            count_neighbours(&neighbours, |index| {
                links
                    .iter()
                    .find(|l| l.index == index)
                    .map(|l| l.name.clone())
            })
        } else {
            let text = read_table_string(&self.proc_arp)?;
            ArpCounts {
                entries: parse_proc_arp(&text, &self.proc_arp)?,
                states: BTreeMap::new(),
            }
        };
        let family = out.family(
            "node_arp_entries",
            "ARP entries by device",
            MetricKind::Gauge,
        );
        for (device, count) in &counts.entries {
            if self.filter.accepts(device) {
                family.push(&[("device", device)], *count as f64);
            }
        }
        if self.netlink {
            let family = out.family("node_arp_states", "ARP states by device", MetricKind::Gauge);
            for ((device, state), count) in &counts.states {
                if self.filter.accepts(device) {
                    family.push(&[("device", device), ("state", state)], *count as f64);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn build(paths: &Paths, flags: &[&str]) -> Result<Arp, ConfigError> {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(std::iter::once("t").chain(flags.iter().copied()))
            .unwrap();
        Arp::new(&BuildContext {
            paths,
            matches: &matches,
        })
    }

    fn scrape(arp: &mut Arp) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        arp.update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    fn device(name: &str) -> Vec<(String, String)> {
        vec![("device".into(), name.into())]
    }

    #[test]
    fn counts_the_fixture_table_per_device() {
        let mut arp = build(&fixture_paths(), &["--no-collector.arp.netlink"]).unwrap();
        let set = scrape(&mut arp).unwrap();
        assert_eq!(
            rendered(&set, |n| n.starts_with("node_arp")),
            vec![
                Line::Help("node_arp_entries".into(), "ARP entries by device".into()),
                Line::Type("node_arp_entries".into(), "gauge".into()),
                Line::Sample("node_arp_entries".into(), device("eth0"), 3.0),
                Line::Sample("node_arp_entries".into(), device("wlan0"), 2.0),
            ]
        );
        let mut arp = build(
            &fixture_paths(),
            &[
                "--no-collector.arp.netlink",
                "--collector.arp.device-exclude=^wlan",
            ],
        )
        .unwrap();
        let set = scrape(&mut arp).unwrap();
        assert_eq!(set.get("node_arp_entries").map(|f| f.len()), Some(1));
        assert!(build(
            &fixture_paths(),
            &[
                "--collector.arp.device-include=a",
                "--collector.arp.device-exclude=b"
            ]
        )
        .is_err());
    }

    #[test]
    fn counts_neighbours_per_link_and_state_without_noarp() {
        let n = |ifindex, state| Neighbour { ifindex, state };
        let names = |index: u32| match index {
            2 => Some("eth0".to_string()),
            3 => Some("wlan0".to_string()),
            _ => None,
        };
        let counts = count_neighbours(
            &[
                n(2, 0x02),
                n(2, 0x04),
                n(2, 0x04),
                n(3, 0x20),
                n(3, 0x00),
                n(2, 0x40), // NOARP: not counted
                n(9, 0x02), // link gone
                n(3, 0x80),
            ],
            names,
        );
        assert_eq!(
            counts.entries,
            BTreeMap::from([("eth0".to_string(), 3), ("wlan0".to_string(), 3)])
        );
        assert_eq!(
            counts.states,
            BTreeMap::from([
                (("eth0".to_string(), "reachable"), 1),
                (("eth0".to_string(), "stale"), 2),
                (("wlan0".to_string(), ""), 1),
                (("wlan0".to_string(), "failed"), 1),
                (("wlan0".to_string(), "permanent"), 1),
            ])
        );
    }

    #[test]
    fn netlink_mode_reads_this_hosts_table() {
        // Whatever the host's table holds, both families agree with each other.
        let mut arp = build(&fixture_paths(), &[]).unwrap();
        let set = scrape(&mut arp).unwrap();
        let entries = rendered(&set, |n| n == "node_arp_entries");
        let states = rendered(&set, |n| n == "node_arp_states");
        if let (Some(entries), Some(states)) = (entries.first(), states.first()) {
            let help = |n: &str, h: &str| Line::Help(n.into(), h.into());
            assert_eq!(entries, &help("node_arp_entries", "ARP entries by device"));
            assert_eq!(states, &help("node_arp_states", "ARP states by device"));
        }
        let total = |lines: &[Line]| -> f64 {
            lines
                .iter()
                .map(|l| match l {
                    Line::Sample(_, _, v) => *v,
                    _ => 0.0,
                })
                .sum()
        };
        assert_eq!(total(&entries), total(&states));
    }

    #[test]
    fn proc_errors_name_the_line() {
        let p = Path::new("/proc/net/arp");
        let err = parse_proc_arp(
            "IP address HW type Flags HW address Mask Device\n1.2.3.4 0x1 0x2\n",
            p,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/arp:2: 3 columns found, but expected 6"
        );
        let err = parse_proc_arp("x 0x1 0x2 00:00:00:00:00:00 * eth0\n", p).unwrap_err();
        assert_eq!(err.to_string(), "/proc/net/arp:1: not an IP address: \"x\"");
        let dir = tempfile::tempdir().unwrap();
        let mut arp = build(&Paths::under(dir.path()), &["--no-collector.arp.netlink"]).unwrap();
        assert!(matches!(scrape(&mut arp), Err(CollectError::Read { .. })));
    }
}
