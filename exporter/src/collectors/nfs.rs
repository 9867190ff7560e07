//! `node_nfs_*` from `<procfs>/net/rpc/nfs`, the NFS client's RPC statistics, as
//! node_exporter 1.12 reads them (procfs' `ParseClientRPCStats`).
//!
//! Every line is `<key> <unsigned integer>...`: `net`, `rpc`, and `procN <count>
//! <count numbers>` per protocol version. A key procfs does not know, a line with a
//! key alone, a field that is not an unsigned integer or a `procN` line whose count
//! does not match fail the collector, as in node_exporter. A line that is absent
//! leaves its counters at 0, which are still exported (a 6.x kernel without NFSv2
//! support writes no `proc2`, and node_exporter still shows 18 zero `proto="2"`
//! series). `proc4` has as many columns as the kernel knows operations: the first 59
//! are named, a shorter line is padded with zeros.
//!
//! The line reader and the version 2 and 3 procedure names are shared with the `nfsd`
//! collector, whose file has the same shape.
//!
//! No file (no NFS client module loaded) is nothing to report, like node_exporter's
//! ErrNoData.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nfs",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Nfs::new(ctx.paths))),
};

/// procfs' `V2Stats` fields, in column order (the `method` label).
pub const V2_PROCEDURES: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// procfs' `V3Stats` fields, in column order.
pub const V3_PROCEDURES: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// procfs' `ClientV4Stats` fields by column (the kernel's `NFSPROC4_CLNT_*` order).
const CLIENT_V4_PROCEDURES: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// One line of a `/proc/net/rpc/*` file: its 1-based number, key and numbers.
pub struct RpcLine<'a> {
    pub line: usize,
    pub key: &'a str,
    pub values: Vec<u64>,
}

/// Splits an RPC statistics file into lines of `<key> <u64>...`. For `th` only the
/// first two numbers are read: the rest are the deprecated thread-usage histogram,
/// written as decimals.
pub fn rpc_lines<'a>(text: &'a str, path: &Path) -> Result<Vec<RpcLine<'a>>, CollectError> {
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else {
            return Err(CollectError::parse(path, number, "empty line"));
        };
        let take = if key == "th" { 2 } else { usize::MAX };
        let values = fields
            .take(take)
            .map(|field| {
                field.parse::<u64>().map_err(|_| {
                    CollectError::parse(
                        path,
                        number,
                        format!("{key}: not an unsigned integer: {field:?}"),
                    )
                })
            })
            .collect::<Result<Vec<u64>, _>>()?;
        if values.is_empty() || (key == "th" && values.len() < 2) {
            return Err(CollectError::parse(
                path,
                number,
                format!("{key}: too few fields"),
            ));
        }
        lines.push(RpcLine {
            line: number,
            key,
            values,
        });
    }
    Ok(lines)
}

impl RpcLine<'_> {
    /// The numbers of a line that must have exactly `expected` of them.
    pub fn exactly<const N: usize>(&self, path: &Path) -> Result<[u64; N], CollectError> {
        <[u64; N]>::try_from(self.values.as_slice()).map_err(|_| {
            CollectError::parse(
                path,
                self.line,
                format!(
                    "{}: expected {N} numbers, found {}",
                    self.key,
                    self.values.len()
                ),
            )
        })
    }

    /// The counts of a `procN <count> <counts>...` line: `count` must match, and be
    /// at least `minimum`.
    pub fn procedures(&self, path: &Path, minimum: usize) -> Result<&[u64], CollectError> {
        let counts = &self.values[1..];
        let declared = self.values[0];
        if declared != counts.len() as u64 || counts.len() < minimum {
            return Err(CollectError::parse(
                path,
                self.line,
                format!(
                    "{}: declares {declared} procedures, has {} (at least {minimum} expected)",
                    self.key,
                    counts.len()
                ),
            ));
        }
        Ok(counts)
    }
}

/// What `/proc/net/rpc/nfs` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientStats {
    /// `net`: packets, UDP packets, TCP packets, TCP connections.
    pub network: [u64; 4],
    /// `rpc`: calls, retransmissions, authentication refreshes.
    pub rpc: [u64; 3],
    pub v2: [u64; 18],
    pub v3: [u64; 22],
    pub v4: [u64; 59],
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            network: [0; 4],
            rpc: [0; 3],
            v2: [0; 18],
            v3: [0; 22],
            v4: [0; 59],
        }
    }
}

pub fn parse_client(text: &str, path: &Path) -> Result<ClientStats, CollectError> {
    let mut stats = ClientStats::default();
    for line in rpc_lines(text, path)? {
        match line.key {
            "net" => stats.network = line.exactly(path)?,
            "rpc" => stats.rpc = line.exactly(path)?,
            "proc2" => copy_counts(&mut stats.v2, line.procedures(path, 18)?),
            "proc3" => copy_counts(&mut stats.v3, line.procedures(path, 22)?),
            "proc4" => copy_counts(&mut stats.v4, line.procedures(path, 0)?),
            other => {
                return Err(CollectError::parse(
                    path,
                    line.line,
                    format!("unknown NFS metric line {other:?}"),
                ))
            }
        }
    }
    Ok(stats)
}

/// Copies the first columns of `counts` into `into`; missing ones become 0.
pub fn copy_counts(into: &mut [u64], counts: &[u64]) {
    into.iter_mut().for_each(|slot| *slot = 0);
    for (slot, count) in into.iter_mut().zip(counts) {
        *slot = *count;
    }
}

pub fn record_client(stats: &ClientStats, out: &mut MetricSet) {
    let packets = out.family(
        "node_nfs_packets_total",
        "Total NFSd network packets (sent+received) by protocol type.",
        MetricKind::Counter,
    );
    packets.push(&[("protocol", "tcp")], stats.network[2] as f64);
    packets.push(&[("protocol", "udp")], stats.network[1] as f64);
    out.counter(
        "node_nfs_connections_total",
        "Total number of NFSd TCP connections.",
        &[],
        stats.network[3] as f64,
    );
    out.counter(
        "node_nfs_rpcs_total",
        "Total number of RPCs performed.",
        &[],
        stats.rpc[0] as f64,
    );
    out.counter(
        "node_nfs_rpc_retransmissions_total",
        "Number of RPC transmissions performed.",
        &[],
        stats.rpc[1] as f64,
    );
    out.counter(
        "node_nfs_rpc_authentication_refreshes_total",
        "Number of RPC authentication refreshes performed.",
        &[],
        stats.rpc[2] as f64,
    );
    let requests = out.family(
        "node_nfs_requests_total",
        "Number of NFS procedures invoked.",
        MetricKind::Counter,
    );
    let versions: [(&str, &[&str], &[u64]); 3] = [
        ("2", &V2_PROCEDURES, &stats.v2),
        ("3", &V3_PROCEDURES, &stats.v3),
        ("4", &CLIENT_V4_PROCEDURES, &stats.v4),
    ];
    for (proto, names, counts) in versions {
        for (method, count) in names.iter().zip(counts) {
            requests.push(&[("method", method), ("proto", proto)], *count as f64);
        }
    }
    requests.sort_series();
}

pub struct Nfs {
    path: PathBuf,
}

impl Nfs {
    pub fn new(paths: &Paths) -> Self {
        Nfs {
            path: paths.proc("net/rpc/nfs"),
        }
    }
}

/// Reads an RPC statistics file; absent means the module is not loaded.
pub fn read_rpc_file(path: &Path) -> Result<String, CollectError> {
    read_table_string(path).map_err(|error| match error {
        CollectError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            CollectError::NoData(format!("{} does not exist", path.display()))
        }
        other => other,
    })
}

impl Collector for Nfs {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_rpc_file(&self.path)?;
        let stats = parse_client(&text, &self.path)?;
        record_client(&stats, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape() -> MetricSet {
        let mut out = MetricSet::new();
        Nfs::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        out
    }

    fn requests(set: &MetricSet, proto: &str, method: &str) -> Option<f64> {
        set.value(
            "node_nfs_requests_total",
            &[("proto", proto), ("method", method)],
        )
    }

    #[test]
    fn fixture_values_of_every_family() {
        let set = scrape();
        let v = |name: &str, labels: &[(&str, &str)]| set.value(name, labels);
        assert_eq!(
            v("node_nfs_packets_total", &[("protocol", "udp")]),
            Some(31.0)
        );
        assert_eq!(
            v("node_nfs_packets_total", &[("protocol", "tcp")]),
            Some(18604.0)
        );
        assert_eq!(v("node_nfs_connections_total", &[]), Some(7.0));
        assert_eq!(v("node_nfs_rpcs_total", &[]), Some(2188742.0));
        assert_eq!(v("node_nfs_rpc_retransmissions_total", &[]), Some(113.0));
        assert_eq!(
            v("node_nfs_rpc_authentication_refreshes_total", &[]),
            Some(2188745.0)
        );
        // No proc2 line in the fixture (a 6.x kernel): zeros, still exported.
        assert_eq!(requests(&set, "2", "Null"), Some(0.0));
        assert_eq!(requests(&set, "2", "FsStat"), Some(0.0));
        assert_eq!(requests(&set, "3", "Null"), Some(3.0));
        assert_eq!(requests(&set, "3", "GetAttr"), Some(81224.0));
        assert_eq!(requests(&set, "3", "Commit"), Some(522.0));
        assert_eq!(requests(&set, "4", "Null"), Some(11.0));
        assert_eq!(requests(&set, "4", "Read"), Some(902341.0));
        assert_eq!(requests(&set, "4", "LayoutGet"), Some(4401.0));
        assert_eq!(requests(&set, "4", "GetDeviceInfo"), Some(4501.0));
        assert_eq!(requests(&set, "4", "Clone"), Some(5801.0));
        let family = set.get("node_nfs_requests_total").unwrap();
        assert_eq!(family.len(), 18 + 22 + 59);
        assert_eq!(set.families().len(), 6);
    }

    #[test]
    fn help_type_and_series_order() {
        let set = scrape();
        let lines = rendered(&set, |f| f == "node_nfs_packets_total");
        assert_eq!(
            lines,
            vec![
                Line::Help(
                    "node_nfs_packets_total".into(),
                    "Total NFSd network packets (sent+received) by protocol type.".into()
                ),
                Line::Type("node_nfs_packets_total".into(), "counter".into()),
                Line::Sample(
                    "node_nfs_packets_total".into(),
                    vec![("protocol".into(), "tcp".into())],
                    18604.0
                ),
                Line::Sample(
                    "node_nfs_packets_total".into(),
                    vec![("protocol".into(), "udp".into())],
                    31.0
                ),
            ]
        );
        let requests = rendered(&set, |f| f == "node_nfs_requests_total");
        assert_eq!(
            requests[0],
            Line::Help(
                "node_nfs_requests_total".into(),
                "Number of NFS procedures invoked.".into()
            )
        );
        // Sorted by method, then proto, as node_exporter's registry writes them.
        let Line::Sample(_, labels, value) = &requests[2] else {
            panic!("a sample")
        };
        assert_eq!(
            labels,
            &vec![
                ("method".to_string(), "Access".to_string()),
                ("proto".to_string(), "3".to_string())
            ]
        );
        assert_eq!(*value, 81404.0);
    }

    #[test]
    fn short_proc4_is_padded_and_bad_lines_name_the_place() {
        let path = Path::new("/proc/net/rpc/nfs");
        let stats = parse_client("proc4 3 1 2 3\n", path).unwrap();
        assert_eq!(&stats.v4[..4], &[1, 2, 3, 0]);
        let err = parse_client("net 1 2 3 4\nrpc 1 2\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfs:2: rpc: expected 3 numbers, found 2"
        );
        let err = parse_client("proc3 22 1 2\n", path).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("/proc/net/rpc/nfs:1: proc3: declares 22"));
        let err = parse_client("net 1 x 3 4\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfs:1: net: not an unsigned integer: \"x\""
        );
        let err = parse_client("rpc 1 2 3\nth 8 0\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfs:2: unknown NFS metric line \"th\""
        );
        let err = parse_client("net\n", path).unwrap_err();
        assert_eq!(err.to_string(), "/proc/net/rpc/nfs:1: net: too few fields");
    }

    #[test]
    fn no_file_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        let err = Nfs::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
    }
}
