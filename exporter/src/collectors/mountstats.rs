//! `node_mountstats_nfs_*` from `<procfs>/self/mountstats`, NFS client statistics per
//! mount, as node_exporter 1.12 reads them (procfs' `MountStats` and `MountInfo`).
//! Off by default, as in node_exporter.
//!
//! `mountstats` lists every mount as `device <dev> mounted on <dir> with fstype
//! <type>`; an NFS mount adds `statvers=<v>` and, up to a blank line, `opts:`, `age:`,
//! `events:` (27 numbers), `bytes:` (8), one `xprt:` line per transport (tcp: 10
//! numbers in stats 1.0, 13 in 1.1; udp: 7 or 10; rdma: at least 20 in 1.1) and, after
//! `per-op statistics`, one line per operation (at least 8 numbers; a 9th is the error
//! count). Any deviation fails the collector, as in procfs.
//!
//! The `mountaddr` label is the `addr=` super option of the entry at the **same
//! position** in `<procfs>/self/mountinfo` (the kernel writes both files in the same
//! order); `mountinfo` is read and checked at every scrape, NFS mounts or not. A mount
//! without an `xprt:` line exports nothing; mounts of the same export, protocol and
//! address are exported once (the first), and each mount point once in
//! `mountpoint_info`. Millisecond totals and error counts are taken modulo 2^53 before
//! conversion, as node_exporter does so that they stay exact in a float.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "mountstats",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(MountStats::new(ctx.paths))),
};

/// 2^53: node_exporter's `float64Mantissa`.
const FLOAT64_MANTISSA: u64 = 9007199254740992;

/// One `device ...` entry of `mountstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fstype: String,
    pub nfs: Option<NfsStats>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NfsStats {
    pub age_seconds: f64,
    pub bytes: [u64; 8],
    pub events: [u64; 27],
    pub transports: Vec<Transport>,
    pub operations: Vec<Operation>,
}

/// An `xprt:` line laid out as procfs lays it out: port, bind, connect, connect idle
/// time, idle time, sends, receives, bad xids, active requests, backlog, maximum
/// slots, sending queue, pending queue (absent fields 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Transport {
    pub protocol: String,
    pub values: [u64; 13],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub name: String,
    /// Requests, transmissions, major timeouts, bytes sent, bytes received, queue ms,
    /// response ms, request ms, errors (0 when the kernel writes only 8 numbers).
    pub values: [u64; 9],
}

/// Lines with their 1-based numbers, for messages.
type Lines<'a> = std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>;

pub fn parse_mountstats(text: &str, path: &Path) -> Result<Vec<Mount>, CollectError> {
    let mut lines: Lines = text.lines().enumerate().peekable();
    let mut mounts = Vec::new();
    while let Some((index, line)) = lines.next() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() != Some(&"device") {
            continue;
        }
        let bad = || CollectError::parse(path, index + 1, format!("invalid device entry {line:?}"));
        if fields.len() < 8
            || fields[2] != "mounted"
            || fields[3] != "on"
            || fields[5] != "with"
            || fields[6] != "fstype"
        {
            return Err(bad());
        }
        let mut mount = Mount {
            device: fields[1].to_string(),
            mount_point: fields[4].to_string(),
            fstype: fields[7].to_string(),
            nfs: None,
        };
        if fields.len() > 8 {
            if mount.fstype != "nfs" && mount.fstype != "nfs4" {
                return Err(CollectError::parse(
                    path,
                    index + 1,
                    format!("cannot parse statistics of fstype {:?}", mount.fstype),
                ));
            }
            let version = fields[8].strip_prefix("statvers=").unwrap_or(fields[8]);
            mount.nfs = Some(parse_nfs(&mut lines, version, path)?);
        }
        mounts.push(mount);
    }
    Ok(mounts)
}

fn numbers<const N: usize>(
    fields: &[&str],
    exact: Option<usize>,
    path: &Path,
    line: usize,
    what: &str,
) -> Result<[u64; N], CollectError> {
    if exact.is_some_and(|n| n != fields.len()) || fields.len() > N {
        return Err(CollectError::parse(
            path,
            line,
            format!("{what}: unexpected number of fields: {}", fields.len()),
        ));
    }
    let mut values = [0u64; N];
    for (slot, field) in values.iter_mut().zip(fields) {
        *slot = field.parse().map_err(|_| {
            CollectError::parse(
                path,
                line,
                format!("{what}: not an unsigned integer: {field:?}"),
            )
        })?;
    }
    Ok(values)
}

/// Seconds as Go's `time.ParseDuration(s + "s")` reads a plain decimal.
fn parse_seconds(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits != ".";
    if valid {
        text.parse().ok()
    } else {
        None
    }
}

fn parse_nfs(lines: &mut Lines, version: &str, path: &Path) -> Result<NfsStats, CollectError> {
    let mut stats = NfsStats::default();
    for (index, line) in lines.by_ref() {
        let number = index + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(&key) = fields.first() else {
            break;
        };
        let incomplete =
            || CollectError::parse(path, number, format!("{key} incomplete information"));
        match key {
            "opts:" | "age:" | "bytes:" | "events:" if fields.len() < 2 => return Err(incomplete()),
            "age:" => {
                stats.age_seconds = parse_seconds(fields[1]).ok_or_else(|| {
                    CollectError::parse(
                        path,
                        number,
                        format!("age: not a duration: {:?}", fields[1]),
                    )
                })?;
            }
            "bytes:" => stats.bytes = numbers(&fields[1..], Some(8), path, number, "bytes")?,
            "events:" => stats.events = numbers(&fields[1..], Some(27), path, number, "events")?,
            "xprt:" => {
                if fields.len() < 3 {
                    return Err(incomplete());
                }
                stats
                    .transports
                    .push(parse_transport(&fields[1..], version, path, number)?);
            }
            _ => {}
        }
        if key == "per-op" {
            break;
        }
    }
    // As in procfs, what follows is read as per-operation lines up to a blank line,
    // whether or not a `per-op` line was seen.
    for (index, line) in lines.by_ref() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            break;
        }
        if fields.len() < 9 {
            return Err(CollectError::parse(
                path,
                index + 1,
                format!("invalid per-operation statistics {line:?}"),
            ));
        }
        let name = fields[0].strip_suffix(':').unwrap_or(fields[0]).to_string();
        let all: Vec<u64> = fields[1..]
            .iter()
            .map(|f| f.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                CollectError::parse(path, index + 1, format!("{name}: not an unsigned integer"))
            })?;
        let mut values = [0u64; 9];
        for (slot, value) in values.iter_mut().zip(&all) {
            *slot = *value;
        }
        stats.operations.push(Operation { name, values });
    }
    Ok(stats)
}

fn parse_transport(
    fields: &[&str],
    version: &str,
    path: &Path,
    line: usize,
) -> Result<Transport, CollectError> {
    let protocol = fields[0];
    let values = &fields[1..];
    let fits = match (version, protocol) {
        ("1.0", "tcp") => values.len() == 10,
        ("1.0", "udp") => values.len() == 7,
        ("1.1", "tcp") => values.len() == 13,
        ("1.1", "udp") => values.len() == 10,
        ("1.1", "rdma") => values.len() >= 20,
        _ => false,
    };
    if !fits {
        return Err(CollectError::parse(
            path,
            line,
            format!(
                "xprt: {} fields for protocol {protocol:?} in stats version {version:?}",
                values.len()
            ),
        ));
    }
    // procfs has room for 31 numbers; more would be out of its bounds.
    let raw: [u64; 31] = numbers(values, None, path, line, "xprt")?;
    let mut laid = [0u64; 13];
    match protocol {
        // udp has no connect count, connect idle time or idle time.
        "udp" => {
            laid[..2].copy_from_slice(&raw[..2]);
            laid[5..].copy_from_slice(&raw[2..10]);
        }
        // rdma has no maximum slots, sending or pending queue.
        "rdma" => laid[..10].copy_from_slice(&raw[..10]),
        _ => laid.copy_from_slice(&raw[..13]),
    }
    Ok(Transport {
        protocol: protocol.to_string(),
        values: laid,
    })
}

/// The `addr=` super option of each `mountinfo` entry, in file order, checked as
/// procfs checks the lines.
pub fn parse_mountinfo_addresses(text: &str, path: &Path) -> Result<Vec<String>, CollectError> {
    let mut addresses = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        let n = fields.len();
        if n < 10 || fields[n - 4] != "-" {
            return Err(CollectError::parse(
                path,
                index + 1,
                "not a mountinfo line (too few fields or no \"-\" separator)",
            ));
        }
        if fields[0].parse::<i64>().is_err() || fields[1].parse::<i64>().is_err() {
            return Err(CollectError::parse(
                path,
                index + 1,
                "mount or parent ID not a number",
            ));
        }
        let mut addr = String::new();
        for option in fields[n - 1].split(',') {
            let mut parts = option.split('=');
            if parts.next() == Some("addr") {
                addr = parts.next().unwrap_or("").to_string();
            }
        }
        addresses.push(addr);
    }
    Ok(addresses)
}

/// The per-mount families: name, HELP, value.
type MountField = fn(&NfsStats) -> f64;
const MOUNT_FAMILIES: [(&str, &str, MountField); 35] = [
    (
        "node_mountstats_nfs_age_seconds_total",
        "The age of the NFS mount in seconds.",
        |s| s.age_seconds,
    ),
    (
        "node_mountstats_nfs_read_bytes_total",
        "Number of bytes read using the read() syscall.",
        |s| s.bytes[0] as f64,
    ),
    (
        "node_mountstats_nfs_write_bytes_total",
        "Number of bytes written using the write() syscall.",
        |s| s.bytes[1] as f64,
    ),
    (
        "node_mountstats_nfs_direct_read_bytes_total",
        "Number of bytes read using the read() syscall in O_DIRECT mode.",
        |s| s.bytes[2] as f64,
    ),
    (
        "node_mountstats_nfs_direct_write_bytes_total",
        "Number of bytes written using the write() syscall in O_DIRECT mode.",
        |s| s.bytes[3] as f64,
    ),
    (
        "node_mountstats_nfs_total_read_bytes_total",
        "Number of bytes read from the NFS server, in total.",
        |s| s.bytes[4] as f64,
    ),
    (
        "node_mountstats_nfs_total_write_bytes_total",
        "Number of bytes written to the NFS server, in total.",
        |s| s.bytes[5] as f64,
    ),
    (
        "node_mountstats_nfs_read_pages_total",
        "Number of pages read directly via mmap()'d files.",
        |s| s.bytes[6] as f64,
    ),
    (
        "node_mountstats_nfs_write_pages_total",
        "Number of pages written directly via mmap()'d files.",
        |s| s.bytes[7] as f64,
    ),
    (
        "node_mountstats_nfs_event_inode_revalidate_total",
        "Number of times cached inode attributes are re-validated from the server.",
        |s| s.events[0] as f64,
    ),
    (
        "node_mountstats_nfs_event_dnode_revalidate_total",
        "Number of times cached dentry nodes are re-validated from the server.",
        |s| s.events[1] as f64,
    ),
    (
        "node_mountstats_nfs_event_data_invalidate_total",
        "Number of times an inode cache is cleared.",
        |s| s.events[2] as f64,
    ),
    (
        "node_mountstats_nfs_event_attribute_invalidate_total",
        "Number of times cached inode attributes are invalidated.",
        |s| s.events[3] as f64,
    ),
    // node_exporter's HELP, copied from the line above.
    (
        "node_mountstats_nfs_event_vfs_open_total",
        "Number of times cached inode attributes are invalidated.",
        |s| s.events[4] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_lookup_total",
        "Number of times a directory lookup has occurred.",
        |s| s.events[5] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_access_total",
        "Number of times permissions have been checked.",
        |s| s.events[6] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_update_page_total",
        "Number of updates (and potential writes) to pages.",
        |s| s.events[7] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_read_page_total",
        "Number of pages read directly via mmap()'d files.",
        |s| s.events[8] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_read_pages_total",
        "Number of times a group of pages have been read.",
        |s| s.events[9] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_write_page_total",
        "Number of pages written directly via mmap()'d files.",
        |s| s.events[10] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_write_pages_total",
        "Number of times a group of pages have been written.",
        |s| s.events[11] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_getdents_total",
        "Number of times directory entries have been read with getdents().",
        |s| s.events[12] as f64,
    ),
    // node_exporter's HELP, copied from the line above.
    (
        "node_mountstats_nfs_event_vfs_setattr_total",
        "Number of times directory entries have been read with getdents().",
        |s| s.events[13] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_flush_total",
        "Number of pending writes that have been forcefully flushed to the server.",
        |s| s.events[14] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_fsync_total",
        "Number of times fsync() has been called on directories and files.",
        |s| s.events[15] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_lock_total",
        "Number of times locking has been attempted on a file.",
        |s| s.events[16] as f64,
    ),
    (
        "node_mountstats_nfs_event_vfs_file_release_total",
        "Number of times files have been closed and released.",
        |s| s.events[17] as f64,
    ),
    // events[18] (congestion wait) is not exported.
    (
        "node_mountstats_nfs_event_truncation_total",
        "Number of times files have been truncated.",
        |s| s.events[19] as f64,
    ),
    (
        "node_mountstats_nfs_event_write_extension_total",
        "Number of times a file has been grown due to writes beyond its existing end.",
        |s| s.events[20] as f64,
    ),
    (
        "node_mountstats_nfs_event_silly_rename_total",
        "Number of times a file was removed while still open by another process.",
        |s| s.events[21] as f64,
    ),
    (
        "node_mountstats_nfs_event_short_read_total",
        "Number of times the NFS server gave less data than expected while reading.",
        |s| s.events[22] as f64,
    ),
    (
        "node_mountstats_nfs_event_short_write_total",
        "Number of times the NFS server wrote less data than expected while writing.",
        |s| s.events[23] as f64,
    ),
    (
        "node_mountstats_nfs_event_jukebox_delay_total",
        "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage.",
        |s| s.events[24] as f64,
    ),
    (
        "node_mountstats_nfs_event_pnfs_read_total",
        "Number of NFS v4.1+ pNFS reads.",
        |s| s.events[25] as f64,
    ),
    (
        "node_mountstats_nfs_event_pnfs_write_total",
        "Number of NFS v4.1+ pNFS writes.",
        |s| s.events[26] as f64,
    ),
];

/// The per-transport families: name, HELP, kind, value.
type TransportField = fn(&[u64; 13]) -> f64;
const TRANSPORT_FAMILIES: [(&str, &str, MetricKind, TransportField); 10] = [
    ("node_mountstats_nfs_transport_bind_total", "Number of times the client has had to establish a connection from scratch to the NFS server.", MetricKind::Counter, |t| t[1] as f64),
    ("node_mountstats_nfs_transport_connect_total", "Number of times the client has made a TCP connection to the NFS server.", MetricKind::Counter, |t| t[2] as f64),
    ("node_mountstats_nfs_transport_idle_time_seconds", "Duration since the NFS mount last saw any RPC traffic, in seconds.", MetricKind::Gauge, |t| (t[4] % FLOAT64_MANTISSA) as f64),
    ("node_mountstats_nfs_transport_sends_total", "Number of RPC requests for this mount sent to the NFS server.", MetricKind::Counter, |t| t[5] as f64),
    ("node_mountstats_nfs_transport_receives_total", "Number of RPC responses for this mount received from the NFS server.", MetricKind::Counter, |t| t[6] as f64),
    ("node_mountstats_nfs_transport_bad_transaction_ids_total", "Number of times the NFS server sent a response with a transaction ID unknown to this client.", MetricKind::Counter, |t| t[7] as f64),
    ("node_mountstats_nfs_transport_backlog_queue_total", "Total number of items added to the RPC backlog queue.", MetricKind::Counter, |t| t[9] as f64),
    ("node_mountstats_nfs_transport_maximum_rpc_slots", "Maximum number of simultaneously active RPC requests ever used.", MetricKind::Gauge, |t| t[10] as f64),
    ("node_mountstats_nfs_transport_sending_queue_total", "Total number of items added to the RPC transmission sending queue.", MetricKind::Counter, |t| t[11] as f64),
    ("node_mountstats_nfs_transport_pending_queue_total", "Total number of items added to the RPC transmission pending queue.", MetricKind::Counter, |t| t[12] as f64),
];

fn milliseconds(ms: u64) -> f64 {
    (ms % FLOAT64_MANTISSA) as f64 / 1000.0
}

/// The per-operation families: name, HELP, value.
type OperationField = fn(&[u64; 9]) -> f64;
const OPERATION_FAMILIES: [(&str, &str, OperationField); 9] = [
    ("node_mountstats_nfs_operations_requests_total", "Number of requests performed for a given operation.", |o| o[0] as f64),
    ("node_mountstats_nfs_operations_transmissions_total", "Number of times an actual RPC request has been transmitted for a given operation.", |o| o[1] as f64),
    ("node_mountstats_nfs_operations_major_timeouts_total", "Number of times a request has had a major timeout for a given operation.", |o| o[2] as f64),
    ("node_mountstats_nfs_operations_sent_bytes_total", "Number of bytes sent for a given operation, including RPC headers and payload.", |o| o[3] as f64),
    ("node_mountstats_nfs_operations_received_bytes_total", "Number of bytes received for a given operation, including RPC headers and payload.", |o| o[4] as f64),
    ("node_mountstats_nfs_operations_queue_time_seconds_total", "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.", |o| milliseconds(o[5])),
    ("node_mountstats_nfs_operations_response_time_seconds_total", "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds.", |o| milliseconds(o[6])),
    ("node_mountstats_nfs_operations_request_time_seconds_total", "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds.", |o| milliseconds(o[7])),
    ("node_mountstats_nfs_operations_errors_total", "Number of errors for a given operation", |o| (o[8] % FLOAT64_MANTISSA) as f64),
];

fn record_mount(stats: &NfsStats, export: &str, protocol: &str, addr: &str, out: &mut MetricSet) {
    let labels = [
        ("export", export),
        ("mountaddr", addr),
        ("protocol", protocol),
    ];
    for (name, help, field) in MOUNT_FAMILIES {
        out.counter(name, help, &labels, field(stats));
    }
    for (index, transport) in stats.transports.iter().enumerate() {
        let index = index.to_string();
        let labels = [
            ("export", export),
            ("mountaddr", addr),
            ("protocol", protocol),
            ("transport", index.as_str()),
        ];
        for (name, help, kind, field) in TRANSPORT_FAMILIES {
            out.family(name, help, kind)
                .push(&labels, field(&transport.values));
        }
    }
    for op in &stats.operations {
        let labels = [
            ("export", export),
            ("mountaddr", addr),
            ("operation", op.name.as_str()),
            ("protocol", protocol),
        ];
        for (name, help, field) in OPERATION_FAMILIES {
            out.counter(name, help, &labels, field(&op.values));
        }
    }
}

/// node_exporter's walk: per mount and transport, one `mountpoint_info` per mount
/// point, and the statistics once per export, protocol and address.
pub fn record(mounts: &[Mount], addresses: &[String], out: &mut MetricSet) {
    let mut mount_points: HashSet<(&str, &str, &str, &str)> = HashSet::new();
    let mut devices: HashSet<(&str, &str, &str)> = HashSet::new();
    for (index, mount) in mounts.iter().enumerate() {
        let Some(stats) = &mount.nfs else {
            continue;
        };
        let addr = addresses.get(index).map_or("", String::as_str);
        for transport in &stats.transports {
            let protocol = transport.protocol.as_str();
            let key = (
                mount.device.as_str(),
                protocol,
                addr,
                mount.mount_point.as_str(),
            );
            if mount_points.insert(key) {
                out.gauge(
                    "node_mountstats_nfs_mountpoint_info",
                    "Info metric for an NFS mountpoint.",
                    &[
                        ("export", &mount.device),
                        ("mountaddr", addr),
                        ("mountpoint", &mount.mount_point),
                        ("protocol", protocol),
                    ],
                    1.0,
                );
            }
            if !devices.insert((mount.device.as_str(), protocol, addr)) {
                break;
            }
            record_mount(stats, &mount.device, protocol, addr, out);
        }
    }
    out.sort_series();
}

pub struct MountStats {
    mountstats: PathBuf,
    mountinfo: PathBuf,
}

impl MountStats {
    pub fn new(paths: &Paths) -> Self {
        MountStats {
            mountstats: paths.proc("self/mountstats"),
            mountinfo: paths.proc("self/mountinfo"),
        }
    }
}

impl Collector for MountStats {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_table_string(&self.mountstats)?;
        let mounts = parse_mountstats(&text, &self.mountstats)?;
        let info = read_table_string(&self.mountinfo)?;
        let addresses = parse_mountinfo_addresses(&info, &self.mountinfo)?;
        record(&mounts, &addresses, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape() -> MetricSet {
        let mut out = MetricSet::new();
        MountStats::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        out
    }

    const MOUNT: [(&str, &str); 3] = [
        ("export", "10.0.0.9:/export"),
        ("mountaddr", "10.0.0.9"),
        ("protocol", "tcp"),
    ];

    #[test]
    fn fixture_mount_transports_and_operations() {
        let set = scrape();
        let v = |name: &str, extra: &[(&str, &str)]| {
            let mut labels = MOUNT.to_vec();
            labels.extend_from_slice(extra);
            set.value(name, &labels)
        };
        assert_eq!(
            v(
                "node_mountstats_nfs_mountpoint_info",
                &[("mountpoint", "/srv/broken")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.get("node_mountstats_nfs_mountpoint_info")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            v("node_mountstats_nfs_age_seconds_total", &[]),
            Some(86391.0)
        );
        assert_eq!(
            v("node_mountstats_nfs_read_bytes_total", &[]),
            Some(1207640230.0)
        );
        assert_eq!(
            v("node_mountstats_nfs_write_pages_total", &[]),
            Some(2911.0)
        );
        assert_eq!(
            v("node_mountstats_nfs_event_inode_revalidate_total", &[]),
            Some(52.0)
        );
        assert_eq!(
            v("node_mountstats_nfs_event_vfs_file_release_total", &[]),
            Some(417.0)
        );
        // events[18], congestion wait (19), is skipped: truncation is events[19].
        assert_eq!(
            v("node_mountstats_nfs_event_truncation_total", &[]),
            Some(419.0)
        );
        assert_eq!(
            v("node_mountstats_nfs_event_pnfs_write_total", &[]),
            Some(426.0)
        );
        let t = |name: &str, index: &str| v(name, &[("transport", index)]);
        assert_eq!(
            t("node_mountstats_nfs_transport_bind_total", "0"),
            Some(1.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_connect_total", "1"),
            Some(3.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_idle_time_seconds", "0"),
            Some(11.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_sends_total", "0"),
            Some(6428.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_receives_total", "1"),
            Some(5102.0)
        );
        assert_eq!(
            t(
                "node_mountstats_nfs_transport_bad_transaction_ids_total",
                "0"
            ),
            Some(4.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_backlog_queue_total", "0"),
            Some(24.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_maximum_rpc_slots", "0"),
            Some(26.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_sending_queue_total", "1"),
            Some(4807.0)
        );
        assert_eq!(
            t("node_mountstats_nfs_transport_pending_queue_total", "0"),
            Some(31.0)
        );
        let op = |name: &str, op: &str| v(name, &[("operation", op)]);
        assert_eq!(
            op("node_mountstats_nfs_operations_requests_total", "READ"),
            Some(1298.0)
        );
        assert_eq!(
            op("node_mountstats_nfs_operations_transmissions_total", "READ"),
            Some(1299.0)
        );
        assert_eq!(
            op(
                "node_mountstats_nfs_operations_major_timeouts_total",
                "READ"
            ),
            Some(2.0)
        );
        assert_eq!(
            op("node_mountstats_nfs_operations_sent_bytes_total", "READ"),
            Some(207680.0)
        );
        assert_eq!(
            op(
                "node_mountstats_nfs_operations_received_bytes_total",
                "READ"
            ),
            Some(1210292152.0)
        );
        assert_eq!(
            op(
                "node_mountstats_nfs_operations_queue_time_seconds_total",
                "READ"
            ),
            Some(0.006)
        );
        assert_eq!(
            op(
                "node_mountstats_nfs_operations_response_time_seconds_total",
                "READ"
            ),
            Some(79.386)
        );
        assert_eq!(
            op(
                "node_mountstats_nfs_operations_request_time_seconds_total",
                "READ"
            ),
            Some(79.407)
        );
        assert_eq!(
            op("node_mountstats_nfs_operations_errors_total", "READ"),
            Some(3.0)
        );
        assert_eq!(
            op("node_mountstats_nfs_operations_requests_total", "NULL"),
            Some(1.0)
        );
        assert_eq!(
            set.get("node_mountstats_nfs_operations_requests_total")
                .unwrap()
                .len(),
            6
        );
        assert_eq!(set.families().len(), 1 + 35 + 10 + 9);
        let lines = rendered(&set, |f| {
            f == "node_mountstats_nfs_transport_idle_time_seconds"
        });
        assert_eq!(
            lines[..2],
            [
                Line::Help(
                    "node_mountstats_nfs_transport_idle_time_seconds".into(),
                    "Duration since the NFS mount last saw any RPC traffic, in seconds.".into()
                ),
                Line::Type(
                    "node_mountstats_nfs_transport_idle_time_seconds".into(),
                    "gauge".into()
                ),
            ]
        );
        let lines = rendered(&set, |f| f == "node_mountstats_nfs_event_vfs_open_total");
        assert_eq!(
            lines[..2],
            [
                Line::Help(
                    "node_mountstats_nfs_event_vfs_open_total".into(),
                    "Number of times cached inode attributes are invalidated.".into()
                ),
                Line::Type(
                    "node_mountstats_nfs_event_vfs_open_total".into(),
                    "counter".into()
                ),
            ]
        );
    }

    fn nfs_entry(device: &str, dir: &str, version: &str, xprts: &[&str]) -> String {
        let events = (1..=27)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let mut text = format!(
            "device {device} mounted on {dir} with fstype nfs statvers={version}\n\topts:\trw\n\tage:\t5\n\tevents:\t{events}\n\tbytes:\t1 2 3 4 5 6 7 8\n"
        );
        for xprt in xprts {
            text.push_str(&format!("\txprt:\t{xprt}\n"));
        }
        text.push_str("\tper-op statistics\n\t        NULL: 1 2 3 4 5 6 7 8\n\n");
        text
    }

    #[test]
    fn udp_rdma_versions_and_duplicates() {
        let path = Path::new("mountstats");
        let mut text = String::from("device proc mounted on /proc with fstype proc\n");
        text.push_str(&nfs_entry(
            "s:/a",
            "/a",
            "1.1",
            &["udp 0 1 2 3 4 5 6 7 8 9"],
        ));
        text.push_str(&nfs_entry(
            "s:/a",
            "/b",
            "1.1",
            &["udp 0 9 9 9 9 9 9 9 9 9"],
        ));
        let rdma: Vec<String> = (0..20).map(|n| (100 + n).to_string()).collect();
        text.push_str(&nfs_entry(
            "s:/r",
            "/r",
            "1.1",
            &[&format!("rdma {}", rdma.join(" "))],
        ));
        text.push_str(&nfs_entry(
            "s:/o",
            "/o",
            "1.0",
            &["tcp 0 1 2 3 4 5 6 7 8 9"],
        ));
        text.push_str(&nfs_entry("s:/n", "/n", "1.1", &[]));
        let mounts = parse_mountstats(&text, path).unwrap();
        assert_eq!(mounts.len(), 6);
        let udp = &mounts[1].nfs.as_ref().unwrap().transports[0];
        assert_eq!(udp.values, [0, 1, 0, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9]);
        let rdma = &mounts[3].nfs.as_ref().unwrap().transports[0];
        assert_eq!(
            &rdma.values[..10],
            &[100, 101, 102, 103, 104, 105, 106, 107, 108, 109]
        );
        assert_eq!(&rdma.values[10..], &[0, 0, 0]);
        let old = &mounts[4].nfs.as_ref().unwrap().transports[0];
        assert_eq!(&old.values[10..], &[0, 0, 0]);
        assert_eq!(mounts[1].nfs.as_ref().unwrap().operations[0].values[8], 0);

        let addresses = vec![String::new(), "1.2.3.4".into(), "1.2.3.4".into()];
        let mut set = MetricSet::new();
        record(&mounts, &addresses, &mut set);
        // /a and /b share export, protocol and address: two mount points, one set of stats.
        let info = set.get("node_mountstats_nfs_mountpoint_info").unwrap();
        assert_eq!(info.len(), 4, "{:?}", info.samples());
        assert_eq!(
            set.value(
                "node_mountstats_nfs_transport_bind_total",
                &[("export", "s:/a")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.get("node_mountstats_nfs_transport_bind_total")
                .unwrap()
                .len(),
            3
        );
        // The mount without xprt exports nothing.
        assert_eq!(
            set.value(
                "node_mountstats_nfs_age_seconds_total",
                &[("export", "s:/n")]
            ),
            None
        );
        // Entries past the end of mountinfo get an empty address.
        assert_eq!(
            set.value(
                "node_mountstats_nfs_age_seconds_total",
                &[("export", "s:/o"), ("mountaddr", "")]
            ),
            Some(5.0)
        );
    }

    #[test]
    fn malformed_input_names_the_place() {
        let path = Path::new("/proc/self/mountstats");
        let err = parse_mountstats("device x mounted at / with fstype ext4\n", path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/proc/self/mountstats:1: invalid device entry"),
            "{err}"
        );
        let err = parse_mountstats(
            "device x mounted on / with fstype ext4 statvers=1.1\n",
            path,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/self/mountstats:1: cannot parse statistics of fstype \"ext4\""
        );
        let text = nfs_entry("s:/a", "/a", "1.1", &["tcp 1 2 3"]);
        let err = parse_mountstats(&text, path).unwrap_err();
        assert!(
            err.to_string()
                .contains(":6: xprt: 3 fields for protocol \"tcp\""),
            "{err}"
        );
        let text = nfs_entry("s:/a", "/a", "2.0", &["tcp 0 1 2 3 4 5 6 7 8 9 10 11 12"]);
        assert!(parse_mountstats(&text, path).is_err());
        let text = "device s:/a mounted on /a with fstype nfs statvers=1.1\n\tbytes:\t1 2\n";
        let err = parse_mountstats(text, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/self/mountstats:2: bytes: unexpected number of fields: 2"
        );
        let info = Path::new("/proc/self/mountinfo");
        let err = parse_mountinfo_addresses("1 2 0:1 / / rw - ext4\n", info).unwrap_err();
        assert!(
            err.to_string().starts_with("/proc/self/mountinfo:1:"),
            "{err}"
        );
        let ok = parse_mountinfo_addresses(
            "61 26 0:52 / /srv rw shared:36 - nfs4 h:/e rw,addr=10.0.0.9,x\n",
            info,
        )
        .unwrap();
        assert_eq!(ok, ["10.0.0.9"]);
    }

    #[test]
    fn a_missing_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        let err = MountStats::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
    }
}
