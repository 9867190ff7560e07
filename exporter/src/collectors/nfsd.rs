//! `node_nfsd_*` from `<procfs>/net/rpc/nfsd`, the kernel NFS server's statistics, as
//! node_exporter 1.12 reads them (procfs' `ParseServerRPCStats`). The line format and
//! its reader are the `nfs` collector's.
//!
//! Known lines: `rc` (3 numbers), `fh` (5), `io` (2), `th` (the first 2; the rest is
//! a decimal histogram), `ra` (12), `net` (4), `rpc` (5), `proc2`/`proc3` (a count,
//! then at least 18/22 counts), `proc4` (exactly 2), `proc4ops` (a count, then at
//! least 39 operation counts) and `wdeleg_getattr` (Linux 6.6+). Anything else fails
//! the collector, as in node_exporter; absent lines leave their series at 0 (kernels
//! since 5.x write no `ra` line). The `requests_total` series are the fixed list
//! node_exporter names, not every column: `Null` and the v4 `PutPubFH`/`PutRootFH`
//! are not exported.
//!
//! No file (nfsd not loaded) is nothing to report, like node_exporter's ErrNoData.

use std::path::{Path, PathBuf};

use super::nfs::{copy_counts, read_rpc_file, rpc_lines, V2_PROCEDURES, V3_PROCEDURES};
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nfsd",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Nfsd::new(ctx.paths))),
};

/// The NFSv4 operations node_exporter exports, with their column in `proc4ops`
/// (after the count; column n is operation number n). node_exporter before 1.7 read
/// Verify, Write and RelLockOwner one column early and had no SetClientID and
/// SetClientIDConfirm (1.7's "Fix nfsd v4 index miss", #2824).
const V4_OPERATIONS: [(&str, usize); 35] = [
    ("Access", 3),
    ("Close", 4),
    ("Commit", 5),
    ("Create", 6),
    ("DelegPurge", 7),
    ("DelegReturn", 8),
    ("GetAttr", 9),
    ("GetFH", 10),
    ("Link", 11),
    ("Lock", 12),
    ("Lockt", 13),
    ("Locku", 14),
    ("Lookup", 15),
    ("LookupRoot", 16),
    ("Nverify", 17),
    ("Open", 18),
    ("OpenAttr", 19),
    ("OpenConfirm", 20),
    ("OpenDgrd", 21),
    ("PutFH", 22),
    ("Read", 25),
    ("ReadDir", 26),
    ("ReadLink", 27),
    ("Remove", 28),
    ("Rename", 29),
    ("Renew", 30),
    ("RestoreFH", 31),
    ("SaveFH", 32),
    ("SecInfo", 33),
    ("SetAttr", 34),
    ("SetClientID", 35),
    ("SetClientIDConfirm", 36),
    ("Verify", 37),
    ("Write", 38),
    // Only 2.6+ kernels write the 40th column; procfs reads it as 0 before.
    ("RelLockOwner", 39),
];

/// What `/proc/net/rpc/nfsd` holds (only what is exported).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStats {
    /// `rc`: hits, misses, nocache.
    pub reply_cache: [u64; 3],
    /// `fh`: stale, then four counters the kernel no longer fills.
    pub file_handles: [u64; 5],
    /// `io`: bytes read, bytes written.
    pub io: [u64; 2],
    pub threads: u64,
    /// `ra`: cache size, ten histogram buckets, not found.
    pub read_ahead: [u64; 12],
    /// `net`: packets, UDP packets, TCP packets, TCP connections.
    pub network: [u64; 4],
    /// `rpc`: calls, bad calls, bad format, bad auth, bad client.
    pub rpc: [u64; 5],
    pub v2: [u64; 18],
    pub v3: [u64; 22],
    /// `proc4ops` columns 0 to 39.
    pub v4_ops: [u64; 40],
    pub wdeleg_getattr: u64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            reply_cache: [0; 3],
            file_handles: [0; 5],
            io: [0; 2],
            threads: 0,
            read_ahead: [0; 12],
            network: [0; 4],
            rpc: [0; 5],
            v2: [0; 18],
            v3: [0; 22],
            v4_ops: [0; 40],
            wdeleg_getattr: 0,
        }
    }
}

pub fn parse_server(text: &str, path: &Path) -> Result<ServerStats, CollectError> {
    let mut stats = ServerStats::default();
    for line in rpc_lines(text, path)? {
        match line.key {
            "rc" => stats.reply_cache = line.exactly(path)?,
            "fh" => stats.file_handles = line.exactly(path)?,
            "io" => stats.io = line.exactly(path)?,
            "th" => stats.threads = line.values[0],
            "ra" => stats.read_ahead = line.exactly(path)?,
            "net" => stats.network = line.exactly(path)?,
            "rpc" => stats.rpc = line.exactly(path)?,
            "proc2" => copy_counts(&mut stats.v2, line.procedures(path, 18)?),
            "proc3" => copy_counts(&mut stats.v3, line.procedures(path, 22)?),
            "proc4" => {
                let counts = line.procedures(path, 2)?;
                if counts.len() != 2 {
                    return Err(CollectError::parse(
                        path,
                        line.line,
                        format!("proc4: expected 2 counts, found {}", counts.len()),
                    ));
                }
            }
            "proc4ops" => copy_counts(&mut stats.v4_ops, line.procedures(path, 39)?),
            "wdeleg_getattr" => stats.wdeleg_getattr = line.values[0],
            other => {
                return Err(CollectError::parse(
                    path,
                    line.line,
                    format!("unknown NFSd metric line {other:?}"),
                ))
            }
        }
    }
    Ok(stats)
}

pub fn record_server(stats: &ServerStats, out: &mut MetricSet) {
    let counter = |out: &mut MetricSet, name, help, value: u64| {
        out.counter(name, help, &[], value as f64);
    };
    counter(
        out,
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        stats.reply_cache[0],
    );
    counter(
        out,
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        stats.reply_cache[1],
    );
    counter(
        out,
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        stats.reply_cache[2],
    );
    counter(
        out,
        "node_nfsd_file_handles_stale_total",
        "Total number of NFSd stale file handles",
        stats.file_handles[0],
    );
    counter(
        out,
        "node_nfsd_disk_bytes_read_total",
        "Total NFSd bytes read.",
        stats.io[0],
    );
    counter(
        out,
        "node_nfsd_disk_bytes_written_total",
        "Total NFSd bytes written.",
        stats.io[1],
    );
    out.gauge(
        "node_nfsd_server_threads",
        "Total number of NFSd kernel threads that are running.",
        &[],
        stats.threads as f64,
    );
    out.gauge(
        "node_nfsd_read_ahead_cache_size_blocks",
        "How large the read ahead cache is in blocks.",
        &[],
        stats.read_ahead[0] as f64,
    );
    counter(
        out,
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
        stats.read_ahead[11],
    );
    let packets = out.family(
        "node_nfsd_packets_total",
        "Total NFSd network packets (sent+received) by protocol type.",
        MetricKind::Counter,
    );
    packets.push(&[("proto", "tcp")], stats.network[2] as f64);
    packets.push(&[("proto", "udp")], stats.network[1] as f64);
    counter(
        out,
        "node_nfsd_connections_total",
        "Total number of NFSd TCP connections.",
        stats.network[3],
    );
    let errors = out.family(
        "node_nfsd_rpc_errors_total",
        "Total number of NFSd RPC errors by error type.",
        MetricKind::Counter,
    );
    errors.push(&[("error", "auth")], stats.rpc[3] as f64);
    errors.push(&[("error", "cInt")], stats.rpc[4] as f64);
    errors.push(&[("error", "fmt")], stats.rpc[2] as f64);
    counter(
        out,
        "node_nfsd_server_rpcs_total",
        "Total number of NFSd RPCs.",
        stats.rpc[0],
    );
    let requests = out.family(
        "node_nfsd_requests_total",
        "Total number NFSd Requests by method and protocol.",
        MetricKind::Counter,
    );
    // Null is not exported for v2 and v3.
    for (method, count) in V2_PROCEDURES.iter().zip(&stats.v2).skip(1) {
        requests.push(&[("method", method), ("proto", "2")], *count as f64);
    }
    for (method, count) in V3_PROCEDURES.iter().zip(&stats.v3).skip(1) {
        requests.push(&[("method", method), ("proto", "3")], *count as f64);
    }
    for (method, column) in V4_OPERATIONS {
        requests.push(
            &[("method", method), ("proto", "4")],
            stats.v4_ops[column] as f64,
        );
    }
    requests.push(
        &[("method", "WdelegGetattr"), ("proto", "4")],
        stats.wdeleg_getattr as f64,
    );
    requests.sort_series();
}

pub struct Nfsd {
    path: PathBuf,
}

impl Nfsd {
    pub fn new(paths: &Paths) -> Self {
        Nfsd {
            path: paths.proc("net/rpc/nfsd"),
        }
    }
}

impl Collector for Nfsd {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_rpc_file(&self.path)?;
        let stats = parse_server(&text, &self.path)?;
        record_server(&stats, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape() -> MetricSet {
        let mut out = MetricSet::new();
        Nfsd::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        out
    }

    fn requests(set: &MetricSet, proto: &str, method: &str) -> Option<f64> {
        set.value(
            "node_nfsd_requests_total",
            &[("proto", proto), ("method", method)],
        )
    }

    #[test]
    fn fixture_values_of_every_family() {
        let set = scrape();
        let v = |name: &str| set.value(name, &[]);
        assert_eq!(v("node_nfsd_reply_cache_hits_total"), Some(12.0));
        assert_eq!(v("node_nfsd_reply_cache_misses_total"), Some(230511.0));
        assert_eq!(v("node_nfsd_reply_cache_nocache_total"), Some(7740233.0));
        assert_eq!(v("node_nfsd_file_handles_stale_total"), Some(41.0));
        assert_eq!(v("node_nfsd_disk_bytes_read_total"), Some(9170442810.0));
        assert_eq!(v("node_nfsd_disk_bytes_written_total"), Some(1183390257.0));
        assert_eq!(v("node_nfsd_server_threads"), Some(8.0));
        // No `ra` line (a 6.x kernel): zeros, still exported.
        assert_eq!(v("node_nfsd_read_ahead_cache_size_blocks"), Some(0.0));
        assert_eq!(v("node_nfsd_read_ahead_cache_not_found_total"), Some(0.0));
        assert_eq!(
            set.value("node_nfsd_packets_total", &[("proto", "udp")]),
            Some(6.0)
        );
        assert_eq!(
            set.value("node_nfsd_packets_total", &[("proto", "tcp")]),
            Some(7970813.0)
        );
        assert_eq!(v("node_nfsd_connections_total"), Some(389.0));
        assert_eq!(v("node_nfsd_server_rpcs_total"), Some(7970744.0));
        let error = |e: &str| set.value("node_nfsd_rpc_errors_total", &[("error", e)]);
        assert_eq!(error("fmt"), Some(2.0));
        assert_eq!(error("auth"), Some(3.0));
        assert_eq!(error("cInt"), Some(4.0));
        assert_eq!(requests(&set, "2", "Null"), None);
        assert_eq!(requests(&set, "2", "GetAttr"), Some(102.0));
        assert_eq!(requests(&set, "2", "FsStat"), Some(118.0));
        assert_eq!(requests(&set, "3", "Null"), None);
        assert_eq!(requests(&set, "3", "GetAttr"), Some(60431.0));
        assert_eq!(requests(&set, "3", "Commit"), Some(2217.0));
        assert_eq!(requests(&set, "4", "Access"), Some(30003.0));
        assert_eq!(requests(&set, "4", "PutFH"), Some(30022.0));
        assert_eq!(requests(&set, "4", "PutRootFH"), None);
        assert_eq!(requests(&set, "4", "Read"), Some(30025.0));
        assert_eq!(requests(&set, "4", "SetClientIDConfirm"), Some(30036.0));
        assert_eq!(requests(&set, "4", "RelLockOwner"), Some(30039.0));
        assert_eq!(requests(&set, "4", "WdelegGetattr"), Some(0.0));
        assert_eq!(
            set.get("node_nfsd_requests_total").unwrap().len(),
            17 + 21 + 35 + 1
        );
        assert_eq!(set.families().len(), 14);
    }

    #[test]
    fn help_and_type_of_the_gauges_and_labelled_families() {
        let set = scrape();
        let lines = rendered(&set, |f| {
            f == "node_nfsd_server_threads" || f == "node_nfsd_rpc_errors_total"
        });
        let sample = |name: &str, labels: &[(&str, &str)], value| {
            Line::Sample(
                name.into(),
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value,
            )
        };
        assert_eq!(
            lines,
            vec![
                Line::Help(
                    "node_nfsd_rpc_errors_total".into(),
                    "Total number of NFSd RPC errors by error type.".into()
                ),
                Line::Type("node_nfsd_rpc_errors_total".into(), "counter".into()),
                sample("node_nfsd_rpc_errors_total", &[("error", "auth")], 3.0),
                sample("node_nfsd_rpc_errors_total", &[("error", "cInt")], 4.0),
                sample("node_nfsd_rpc_errors_total", &[("error", "fmt")], 2.0),
                Line::Help(
                    "node_nfsd_server_threads".into(),
                    "Total number of NFSd kernel threads that are running.".into()
                ),
                Line::Type("node_nfsd_server_threads".into(), "gauge".into()),
                sample("node_nfsd_server_threads", &[], 8.0),
            ]
        );
    }

    #[test]
    fn newer_and_older_kernel_lines() {
        let path = Path::new("/proc/net/rpc/nfsd");
        let ops39: Vec<String> = (0..39).map(|i| (i + 1000).to_string()).collect();
        let text = format!(
            "ra 32 1 2 3 4 5 6 7 8 9 10 11\nproc4ops 39 {}\nwdeleg_getattr 16\n",
            ops39.join(" ")
        );
        let stats = parse_server(&text, path).unwrap();
        assert_eq!(stats.read_ahead[0], 32);
        assert_eq!(stats.read_ahead[11], 11);
        assert_eq!(stats.v4_ops[38], 1038);
        assert_eq!(stats.v4_ops[39], 0, "RelLockOwner absent before 2.6");
        assert_eq!(stats.wdeleg_getattr, 16);
        let mut set = MetricSet::new();
        record_server(&stats, &mut set);
        assert_eq!(
            set.value(
                "node_nfsd_requests_total",
                &[("proto", "4"), ("method", "WdelegGetattr")]
            ),
            Some(16.0)
        );
        assert_eq!(
            set.value("node_nfsd_read_ahead_cache_not_found_total", &[]),
            Some(11.0)
        );
    }

    #[test]
    fn bad_lines_name_the_place() {
        let path = Path::new("/proc/net/rpc/nfsd");
        let err = parse_server("rc 1 2 3\nproc4ops 2 0 0\n", path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/proc/net/rpc/nfsd:2: proc4ops: declares 2"),
            "{err}"
        );
        let err = parse_server("rc 1 2 3\nxyz 1\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfsd:2: unknown NFSd metric line \"xyz\""
        );
        let err = parse_server("th 8\n", path).unwrap_err();
        assert_eq!(err.to_string(), "/proc/net/rpc/nfsd:1: th: too few fields");
        let err = parse_server("proc4 3 1 2 3\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfsd:1: proc4: expected 2 counts, found 3"
        );
        let err = parse_server("fh 1 2 3\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/rpc/nfsd:1: fh: expected 5 numbers, found 3"
        );
    }

    #[test]
    fn no_file_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        let err = Nfsd::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
    }
}
