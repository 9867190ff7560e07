//! IPVS (the kernel's layer-4 load balancer): the totals of `<procfs>/net/ip_vs_stats`
//! (`node_ipvs_connections_total`, `…_incoming_packets_total`, …) and, per backend of
//! `<procfs>/net/ip_vs`, `node_ipvs_backend_connections_active`,
//! `…_connections_inactive` and `…_weight`.
//!
//! `--collector.ipvs.backend-labels` picks which of the six backend labels are kept;
//! backends that become equal once the others are dropped are summed, as node_exporter
//! does (fewer series on a large balancer). Without the ip_vs module there is no
//! `ip_vs_stats`: no data. Addresses are hexadecimal in the table (`C0A80016:0CEA`,
//! or `[2620:0:…]:0050` for IPv6); a firewall-mark service (`FWM`) has no local address
//! or port, and reports its mark instead. As in node_exporter (procfs), service lines of
//! other protocols than TCP, UDP and FWM are not recognised.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use clap::Arg;

use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::read::{parse_field, read_table_string};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "ipvs",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(Ipvs::new(ctx)?)),
};

const BACKEND_LABELS: &str = "collector.ipvs.backend-labels";

/// The backend labels in node_exporter's order (the flag's default and the order in
/// which its error message is built).
const ALL_LABELS: [Label; 6] = [
    Label::LocalAddress,
    Label::LocalPort,
    Label::RemoteAddress,
    Label::RemotePort,
    Label::Proto,
    Label::LocalMark,
];

fn args() -> Vec<Arg> {
    vec![Arg::new(BACKEND_LABELS)
        .long(BACKEND_LABELS)
        .default_value("local_address,local_port,remote_address,remote_port,proto,local_mark")
        .help("Comma separated list for IPVS backend stats labels.")]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    LocalAddress,
    LocalPort,
    RemoteAddress,
    RemotePort,
    Proto,
    LocalMark,
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Label::LocalAddress => "local_address",
            Label::LocalPort => "local_port",
            Label::RemoteAddress => "remote_address",
            Label::RemotePort => "remote_port",
            Label::Proto => "proto",
            Label::LocalMark => "local_mark",
        }
    }

    fn value(self, backend: &Backend) -> String {
        match self {
            Label::LocalAddress => backend.local_address.clone(),
            Label::LocalPort => backend.local_port.to_string(),
            Label::RemoteAddress => backend.remote_address.clone(),
            Label::RemotePort => backend.remote_port.to_string(),
            Label::Proto => backend.proto.clone(),
            Label::LocalMark => backend.local_mark.clone(),
        }
    }
}

/// The labels the flag keeps, sorted by label name (the order they are written in).
fn parse_labels(text: &str) -> Result<Vec<Label>, ConfigError> {
    let wanted: Vec<&str> = text.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !ALL_LABELS.iter().any(|l| l.name() == *w))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(ConfigError::new(
            format!("--{BACKEND_LABELS}"),
            format!("unknown IPVS backend labels: {:?}", unknown.join(", ")),
        ));
    }
    let mut labels: Vec<Label> = ALL_LABELS
        .into_iter()
        .filter(|l| wanted.contains(&l.name()))
        .collect();
    labels.sort_by_key(|l| l.name());
    Ok(labels)
}

pub struct Ipvs {
    stats_path: PathBuf,
    backends_path: PathBuf,
    labels: Vec<Label>,
}

impl Ipvs {
    fn new(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let labels = parse_labels(&ctx.string(BACKEND_LABELS).unwrap_or_default())?;
        Ok(Ipvs {
            stats_path: ctx.paths.proc("net/ip_vs_stats"),
            backends_path: ctx.paths.proc("net/ip_vs"),
            labels,
        })
    }
}

/// The totals line of `ip_vs_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpvsStats {
    pub connections: u64,
    pub incoming_packets: u64,
    pub outgoing_packets: u64,
    pub incoming_bytes: u64,
    pub outgoing_bytes: u64,
}

/// Parses the third line of `ip_vs_stats`: five hexadecimal totals.
pub fn parse_stats(text: &str, path: &Path) -> Result<IpvsStats, CollectError> {
    let lines: Vec<&str> = text.splitn(4, '\n').collect();
    if lines.len() != 4 {
        return Err(CollectError::parse(path, 0, "too short"));
    }
    let fields: Vec<&str> = lines[2].split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CollectError::parse(
            path,
            3,
            format!("{} fields, expected 5", fields.len()),
        ));
    }
    let hex = |i: usize, what: &str| {
        u64::from_str_radix(fields[i], 16).map_err(|_| {
            CollectError::parse(
                path,
                3,
                format!("{what}: not a hexadecimal number: {:?}", fields[i]),
            )
        })
    };
    Ok(IpvsStats {
        connections: hex(0, "connections")?,
        incoming_packets: hex(1, "incoming packets")?,
        outgoing_packets: hex(2, "outgoing packets")?,
        incoming_bytes: hex(3, "incoming bytes")?,
        outgoing_bytes: hex(4, "outgoing bytes")?,
    })
}

/// One `->` line of `ip_vs`, with the service it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Empty for a firewall-mark service.
    pub local_address: String,
    pub local_port: u16,
    pub remote_address: String,
    pub remote_port: u16,
    pub proto: String,
    /// The mark of an `FWM` service (as written, hexadecimal), else empty.
    pub local_mark: String,
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

/// Parses `HHHHHHHH:PPPP` (IPv4) or `[v6 address, 39 chars]:PPPP`.
fn parse_address_port(text: &str, path: &Path, line: usize) -> Result<(String, u16), CollectError> {
    let bad = || CollectError::parse(path, line, format!("unexpected IP:Port: {text:?}"));
    let address = match text.len() {
        13 => {
            let hex = text.get(..8).ok_or_else(bad)?;
            Ipv4Addr::from(u32::from_str_radix(hex, 16).map_err(|_| bad())?).to_string()
        }
        46 => {
            let inner = text.get(1..40).ok_or_else(bad)?;
            let v6: Ipv6Addr = inner.parse().map_err(|_| {
                CollectError::parse(path, line, format!("invalid IPv6 address: {inner}"))
            })?;
            // Go writes an IPv4-mapped address as plain IPv4.
            match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            }
        }
        _ => return Err(bad()),
    };
    let port = text
        .get(text.len() - 4..)
        .and_then(|p| u16::from_str_radix(p, 16).ok())
        .ok_or_else(bad)?;
    Ok((address, port))
}

/// Parses every backend of `ip_vs`.
pub fn parse_backends(text: &str, path: &Path) -> Result<Vec<Backend>, CollectError> {
    let mut backends = Vec::new();
    let mut service = (String::new(), 0u16, String::new(), String::new());
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(&first) = fields.first() else {
            continue;
        };
        if first == "IP" || first == "Prot" || fields.get(1) == Some(&"RemoteAddress:Port") {
            continue;
        }
        match first {
            "TCP" | "UDP" if fields.len() >= 2 => {
                let (address, port) = parse_address_port(fields[1], path, number)?;
                service = (address, port, first.to_string(), String::new());
            }
            "FWM" if fields.len() >= 2 => {
                service = (String::new(), 0, first.to_string(), fields[1].to_string());
            }
            "->" if fields.len() >= 6 => {
                let (remote_address, remote_port) = parse_address_port(fields[1], path, number)?;
                backends.push(Backend {
                    local_address: service.0.clone(),
                    local_port: service.1,
                    remote_address,
                    remote_port,
                    proto: service.2.clone(),
                    local_mark: service.3.clone(),
                    weight: parse_field(Some(fields[3]), path, number, "weight")?,
                    active: parse_field(Some(fields[4]), path, number, "ActiveConn")?,
                    inactive: parse_field(Some(fields[5]), path, number, "InActConn")?,
                });
            }
            _ => {}
        }
    }
    Ok(backends)
}

impl Collector for Ipvs {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = match read_table_string(&self.stats_path) {
            Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(
                    "ipvs collector metrics are not available for this system".to_string(),
                ))
            }
            other => other?,
        };
        let stats = parse_stats(&text, &self.stats_path)?;
        let backends = parse_backends(
            &read_table_string(&self.backends_path)?,
            &self.backends_path,
        )?;

        for (name, help, value) in [
            (
                "node_ipvs_connections_total",
                "The total number of connections made.",
                stats.connections,
            ),
            (
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
                stats.incoming_packets,
            ),
            (
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
                stats.outgoing_packets,
            ),
            (
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
                stats.incoming_bytes,
            ),
            (
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
                stats.outgoing_bytes,
            ),
        ] {
            out.counter(name, help, &[], value as f64);
        }

        // Summed per kept label values; the map's order is node_exporter's series order
        // (values compared as strings, in label-name order).
        let mut sums: BTreeMap<Vec<String>, [u64; 3]> = BTreeMap::new();
        for backend in &backends {
            let key = self.labels.iter().map(|l| l.value(backend)).collect();
            let sum = sums.entry(key).or_default();
            sum[0] += backend.active;
            sum[1] += backend.inactive;
            sum[2] += backend.weight;
        }
        let families = [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            ),
        ];
        for (i, (name, help)) in families.into_iter().enumerate() {
            let family = out.family(name, help, MetricKind::Gauge);
            for (values, sum) in &sums {
                let labels: Vec<(&str, &str)> = self
                    .labels
                    .iter()
                    .zip(values)
                    .map(|(l, v)| (l.name(), v.as_str()))
                    .collect();
                family.push(&labels, sum[i] as f64);
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

    fn build(paths: &Paths, flags: &[&str]) -> Result<Ipvs, ConfigError> {
        let command = clap::Command::new("t").args(args());
        let matches = command
            .try_get_matches_from(std::iter::once("t").chain(flags.iter().copied()))
            .unwrap();
        Ipvs::new(&BuildContext {
            paths,
            matches: &matches,
        })
    }

    fn scrape(ipvs: &mut Ipvs) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        ipvs.update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn totals_and_backends_of_the_fixture() {
        let set = scrape(&mut build(&fixture_paths(), &[]).unwrap()).unwrap();
        let totals = rendered(&set, |n| {
            n.starts_with("node_ipvs_") && n.ends_with("_total")
        });
        let sample = |n: &str, v: f64| Line::Sample(n.into(), vec![], v);
        assert_eq!(
            totals,
            vec![
                Line::Help(
                    "node_ipvs_connections_total".into(),
                    "The total number of connections made.".into()
                ),
                Line::Type("node_ipvs_connections_total".into(), "counter".into()),
                sample("node_ipvs_connections_total", 23_765_872.0),
                Line::Help(
                    "node_ipvs_incoming_bytes_total".into(),
                    "The total amount of incoming data.".into()
                ),
                Line::Type("node_ipvs_incoming_bytes_total".into(), "counter".into()),
                sample("node_ipvs_incoming_bytes_total", 89_991_519_156_915.0),
                Line::Help(
                    "node_ipvs_incoming_packets_total".into(),
                    "The total number of incoming packets.".into()
                ),
                Line::Type("node_ipvs_incoming_packets_total".into(), "counter".into()),
                sample("node_ipvs_incoming_packets_total", 3_811_989_221.0),
                Line::Help(
                    "node_ipvs_outgoing_bytes_total".into(),
                    "The total amount of outgoing data.".into()
                ),
                Line::Type("node_ipvs_outgoing_bytes_total".into(), "counter".into()),
                sample("node_ipvs_outgoing_bytes_total", 5_026_691_701.0),
                Line::Help(
                    "node_ipvs_outgoing_packets_total".into(),
                    "The total number of outgoing packets.".into()
                ),
                Line::Type("node_ipvs_outgoing_packets_total".into(), "counter".into()),
                sample("node_ipvs_outgoing_packets_total", 41_206.0),
            ]
        );

        let active = rendered(&set, |n| n == "node_ipvs_backend_connections_active");
        let row = |la: &str, mark: &str, lp: &str, proto: &str, ra: &str, rp: &str, v: f64| {
            Line::Sample(
                "node_ipvs_backend_connections_active".into(),
                labels(&[
                    ("local_address", la),
                    ("local_mark", mark),
                    ("local_port", lp),
                    ("proto", proto),
                    ("remote_address", ra),
                    ("remote_port", rp),
                ]),
                v,
            )
        };
        assert_eq!(
            active[2..],
            [
                row("", "10001000", "0", "FWM", "192.168.50.21", "3306", 3.0),
                row("", "10001000", "0", "FWM", "192.168.50.26", "3306", 0.0),
                row(
                    "192.168.0.22",
                    "",
                    "3306",
                    "TCP",
                    "192.168.82.22",
                    "3306",
                    248.0
                ),
                row(
                    "192.168.0.22",
                    "",
                    "3306",
                    "TCP",
                    "192.168.83.21",
                    "3306",
                    247.0
                ),
                row(
                    "192.168.0.22",
                    "",
                    "3306",
                    "TCP",
                    "192.168.83.24",
                    "3306",
                    246.0
                ),
                row(
                    "192.168.0.57",
                    "",
                    "53",
                    "UDP",
                    "192.168.84.22",
                    "53",
                    1499.0
                ),
                row("2620::1", "", "80", "TCP", "2620::2", "80", 12.0),
            ]
        );
        assert_eq!(
            set.value(
                "node_ipvs_backend_connections_inactive",
                &[("remote_address", "192.168.83.21")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.value(
                "node_ipvs_backend_weight",
                &[("remote_address", "192.168.83.24")]
            ),
            Some(50.0)
        );
    }

    #[test]
    fn fewer_labels_sum_the_backends() {
        let flags = ["--collector.ipvs.backend-labels=proto,local_port"];
        let set = scrape(&mut build(&fixture_paths(), &flags).unwrap()).unwrap();
        let weight = rendered(&set, |n| n == "node_ipvs_backend_weight");
        let w = |port: &str, proto: &str, v: f64| {
            Line::Sample(
                "node_ipvs_backend_weight".into(),
                labels(&[("local_port", port), ("proto", proto)]),
                v,
            )
        };
        assert_eq!(
            weight[2..],
            [
                w("0", "FWM", 40.0),
                w("3306", "TCP", 250.0),
                w("53", "UDP", 100.0),
                w("80", "TCP", 30.0),
            ]
        );
    }

    #[test]
    fn unknown_labels_are_refused() {
        let err = build(
            &fixture_paths(),
            &["--collector.ipvs.backend-labels=proto,zone,arch,zone"],
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "--collector.ipvs.backend-labels: unknown IPVS backend labels: \"arch, zone\""
        );
        assert!(build(&fixture_paths(), &["--collector.ipvs.backend-labels="]).is_ok());
    }

    #[test]
    fn no_module_is_no_data_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipvs = build(&Paths::under(dir.path()), &[]).unwrap();
        assert!(matches!(scrape(&mut ipvs), Err(CollectError::NoData(_))));

        let p = Path::new("/proc/net/ip_vs");
        let err =
            parse_backends("TCP  C0A80016:0CEA wlc\n  -> C0A8:0CEA Route 1 2 3\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/ip_vs:2: unexpected IP:Port: \"C0A8:0CEA\""
        );
        let err = parse_backends(
            "UDP  C0A80016:0CEA wlc\n  -> C0A80017:0CEA Route x 2 3\n",
            p,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/ip_vs:2: weight: not a number: \"x\""
        );
        let s = Path::new("/proc/net/ip_vs_stats");
        assert_eq!(
            parse_stats("a\nb\n 1 2 3\n", s).unwrap_err().to_string(),
            "/proc/net/ip_vs_stats:3: 3 fields, expected 5"
        );
        assert_eq!(
            parse_stats("a\nb\n 1 2 3 4 G\n", s)
                .unwrap_err()
                .to_string(),
            "/proc/net/ip_vs_stats:3: outgoing bytes: not a hexadecimal number: \"G\""
        );
    }
}
