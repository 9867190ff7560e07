//! `node_btrfs_*` from `<sysfs>/fs/btrfs/<uuid>/` (procfs `btrfs`), plus, for a
//! filesystem mounted here, per-device sizes and error counters from the btrfs ioctls
//! (FS_INFO, DEV_INFO, GET_DEV_STATS on the mount point), as node_exporter 1.12 does.
//!
//! Where a filesystem answers the ioctls, `node_btrfs_device_size_bytes` carries
//! `device` (the basename of the kernel's device path) and `btrfs_dev_uuid`, and
//! `node_btrfs_device_unused_bytes` and `node_btrfs_device_errors_total{type}` join it;
//! otherwise `device_size_bytes` comes from `devices/<name>/size` (512-byte sectors)
//! with `device` only. The ioctl side is found through the host's mount table
//! (`<procfs>/1/mountinfo`, falling back to `self/mountinfo`) and the mount point under
//! `--path.rootfs`; any failure there is logged at debug and leaves the sysfs side.
//!
//! Surprising but upstream: a missing sysfs attribute reads as 0 and so does one that
//! is not a number; `allocation_ratio` is 1 for single/raid0, 2 for dup/raid1/raid10,
//! n/(n-1) and n/(n-2) for raid5/raid6 over n devices, 0 for any other profile; the
//! filesystem's uuid is `metadata_uuid` when that file is not empty. Stricter than
//! upstream: a missing `allocation/{data,metadata,system}` directory fails the
//! collector (procfs only notices the last one). No `fs/btrfs` is success with nothing.

use std::collections::HashSet;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::filesystem::parse_mountinfo;
use super::sysfs_dir::{glob_dirs, has_parts, sorted_names};
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "btrfs",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Btrfs::new(ctx.paths))),
};

const SECTOR_SIZE: u64 = 512;
const BLOCK_GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

/// A profile's space within a block group type.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub mode: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub ratio: f64,
}

/// One block group type (`allocation/data`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub kind: &'static str,
    pub reserved_bytes: u64,
    pub layouts: Vec<Layout>,
}

/// What sysfs says about one filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct BtrfsStats {
    pub uuid: String,
    pub label: String,
    pub global_rsv_size: u64,
    pub commits: u64,
    pub last_commit_ms: u64,
    pub max_commit_ms: u64,
    pub total_commit_ms: u64,
    pub allocations: Vec<Allocation>,
    /// `(name, bytes)` from `devices/`.
    pub devices: Vec<(String, u64)>,
}

/// What the ioctls say about one device of a mounted filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct IoctlDevice {
    pub path: String,
    pub uuid: String,
    pub bytes_used: u64,
    pub total_bytes: u64,
    /// write, read, flush, corruption, generation.
    pub errors: [u64; 5],
}

/// Reads an attribute; a missing one is empty, as procfs' `readFile`.
fn read_text(path: &Path) -> Result<String, CollectError> {
    match read_attribute(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(CollectError::read(path, e)),
    }
}

/// Reads a numeric attribute; missing or not a number is 0, as procfs' `readValue`.
fn read_value(path: &Path) -> Result<u64, CollectError> {
    Ok(read_text(path)?.parse().unwrap_or(0))
}

fn ratio(mode: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// Reads `<sysfs>/fs/btrfs/<dir>/`.
pub fn read_stats(dir: &Path) -> Result<BtrfsStats, CollectError> {
    let devices_dir = dir.join("devices");
    let mut devices = Vec::new();
    for name in sorted_names(&devices_dir).unwrap_or_default() {
        let size = read_value(&devices_dir.join(&name).join("size"))?;
        devices.push((name, SECTOR_SIZE.wrapping_mul(size)));
    }
    let mut allocations = Vec::new();
    for kind in BLOCK_GROUP_TYPES {
        let path = dir.join("allocation").join(kind);
        let mut layouts = Vec::new();
        for mode in sorted_names(&path).map_err(|e| CollectError::read(&path, e))? {
            if !path.join(&mode).is_dir() {
                continue;
            }
            layouts.push(Layout {
                total_bytes: read_value(&path.join(&mode).join("total_bytes"))?,
                used_bytes: read_value(&path.join(&mode).join("used_bytes"))?,
                ratio: ratio(&mode, devices.len()),
                mode,
            });
        }
        allocations.push(Allocation {
            kind,
            reserved_bytes: read_value(&path.join("bytes_reserved"))?,
            layouts,
        });
    }
    let mut stats = BtrfsStats {
        uuid: read_text(&dir.join("metadata_uuid"))?,
        label: read_text(&dir.join("label"))?,
        global_rsv_size: read_value(&dir.join("allocation/global_rsv_size"))?,
        commits: 0,
        last_commit_ms: 0,
        max_commit_ms: 0,
        total_commit_ms: 0,
        allocations,
        devices,
    };
    if stats.uuid.is_empty() {
        stats.uuid = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    let commit_stats = dir.join("commit_stats");
    match std::fs::read_to_string(&commit_stats) {
        Ok(text) => parse_commit_stats(&text, &commit_stats, &mut stats)?,
        // Kernels before 6.0 have no commit_stats: the counters stay 0.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CollectError::read(&commit_stats, e)),
    }
    Ok(stats)
}

/// `commit_stats`: `<key> <value>` lines, every one of exactly two fields.
pub fn parse_commit_stats(
    text: &str,
    path: &Path,
    stats: &mut BtrfsStats,
) -> Result<(), CollectError> {
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [key, value] = fields.as_slice() else {
            return Err(CollectError::parse(
                path,
                index + 1,
                format!("invalid commit_stats line {line:?}"),
            ));
        };
        let value: u64 = value.parse().map_err(|_| {
            CollectError::parse(path, index + 1, format!("{key}: not a number: {value:?}"))
        })?;
        match *key {
            "commits" => stats.commits = value,
            "last_commit_ms" => stats.last_commit_ms = value,
            "max_commit_ms" => stats.max_commit_ms = value,
            "total_commit_ms" => stats.total_commit_ms = value,
            _ => {}
        }
    }
    Ok(())
}

/// Appends the families of `filesystems`, each with the ioctl devices of its uuid
/// (dashes removed) when the filesystem is mounted here.
pub fn record(filesystems: &[(BtrfsStats, Option<Vec<IoctlDevice>>)], out: &mut MetricSet) {
    use MetricKind::{Counter, Gauge};
    for (stats, ioctl) in filesystems {
        let uuid = stats.uuid.as_str();
        out.family("node_btrfs_info", "Filesystem information", Gauge)
            .push(&[("label", &stats.label), ("uuid", uuid)], 1.0);
        let mut simple = |name: &'static str, help: &'static str, kind, value: f64| {
            out.family(name, help, kind).push(&[("uuid", uuid)], value);
        };
        simple(
            "node_btrfs_global_rsv_size_bytes",
            "Size of global reserve.",
            Gauge,
            stats.global_rsv_size as f64,
        );
        simple(
            "node_btrfs_commits_total",
            "The total number of commits that have occurred.",
            Counter,
            stats.commits as f64,
        );
        simple(
            "node_btrfs_last_commit_seconds",
            "Duration of the most recent commit, in seconds.",
            Gauge,
            stats.last_commit_ms as f64 / 1000.0,
        );
        simple(
            "node_btrfs_max_commit_seconds",
            "Duration of the slowest commit, in seconds.",
            Gauge,
            stats.max_commit_ms as f64 / 1000.0,
        );
        simple(
            "node_btrfs_commit_seconds_total",
            "Sum of the duration of all commits, in seconds.",
            Counter,
            stats.total_commit_ms as f64 / 1000.0,
        );
        for allocation in &stats.allocations {
            out.family(
                "node_btrfs_reserved_bytes",
                "Amount of space reserved for a data type",
                Gauge,
            )
            .push(
                &[("block_group_type", allocation.kind), ("uuid", uuid)],
                allocation.reserved_bytes as f64,
            );
            for layout in &allocation.layouts {
                let labels = [
                    ("block_group_type", allocation.kind),
                    ("mode", layout.mode.as_str()),
                    ("uuid", uuid),
                ];
                out.family(
                    "node_btrfs_used_bytes",
                    "Amount of used space by a layout/data type",
                    Gauge,
                )
                .push(&labels, layout.used_bytes as f64);
                out.family(
                    "node_btrfs_size_bytes",
                    "Amount of space allocated for a layout/data type",
                    Gauge,
                )
                .push(&labels, layout.total_bytes as f64);
                out.family(
                    "node_btrfs_allocation_ratio",
                    "Data allocation ratio for a layout/data type",
                    Gauge,
                )
                .push(&labels, layout.ratio);
            }
        }
        const SIZE_HELP: &str = "Size of a device that is part of the filesystem.";
        match ioctl {
            None => {
                for (device, bytes) in &stats.devices {
                    out.family("node_btrfs_device_size_bytes", SIZE_HELP, Gauge)
                        .push(&[("device", device), ("uuid", uuid)], *bytes as f64);
                }
            }
            Some(devices) => {
                for dev in devices {
                    let device = dev.path.rsplit('/').next().unwrap_or("");
                    let labels = [
                        ("btrfs_dev_uuid", dev.uuid.as_str()),
                        ("device", device),
                        ("uuid", uuid),
                    ];
                    out.family("node_btrfs_device_size_bytes", SIZE_HELP, Gauge)
                        .push(&labels, dev.total_bytes as f64);
                    out.family(
                        "node_btrfs_device_unused_bytes",
                        "Unused bytes unused on a device that is part of the filesystem.",
                        Gauge,
                    )
                    .push(&labels, dev.total_bytes.wrapping_sub(dev.bytes_used) as f64);
                    for (kind, value) in ["write", "read", "flush", "corruption", "generation"]
                        .iter()
                        .zip(dev.errors)
                    {
                        out.family(
                            "node_btrfs_device_errors_total",
                            "Errors reported for the device",
                            Counter,
                        )
                        .push(
                            &[
                                ("btrfs_dev_uuid", dev.uuid.as_str()),
                                ("device", device),
                                ("type", kind),
                                ("uuid", uuid),
                            ],
                            value as f64,
                        );
                    }
                }
            }
        }
    }
    out.sort_series();
}

pub struct Btrfs {
    paths: Paths,
    fs_btrfs: PathBuf,
}

impl Btrfs {
    pub fn new(paths: &Paths) -> Self {
        Btrfs {
            paths: paths.clone(),
            fs_btrfs: paths.sys("fs/btrfs"),
        }
    }

    /// The ioctl view of every btrfs mounted here, by fsid (hex, no dashes).
    fn ioctl_stats(
        &self,
        sources: &mut Sources,
    ) -> Result<Vec<(String, Vec<IoctlDevice>)>, CollectError> {
        let host = self.paths.proc("1/mountinfo");
        let mounts = match sources.table(&host) {
            Ok(text) => parse_mountinfo(text, &host)?,
            Err(_) => {
                let own = self.paths.proc("self/mountinfo");
                parse_mountinfo(sources.table(&own)?, &own)?
            }
        };
        let mut devices_done = HashSet::new();
        let mut found: Vec<(String, Vec<IoctlDevice>)> = Vec::new();
        for mount in mounts.iter().filter(|m| m.fs_type == "btrfs") {
            if devices_done.contains(&mount.device) {
                continue;
            }
            let path = self.paths.rootfs_path(&mount.mount_point);
            match ioctl::filesystem_devices(&path) {
                Ok((fsid, devices)) => {
                    if found.iter().any(|(id, _)| *id == fsid) {
                        continue;
                    }
                    devices_done.insert(mount.device.clone());
                    found.push((fsid, devices));
                }
                Err(error) => {
                    tracing::debug!(mount_point = %path.display(), %error, "btrfs ioctl failed");
                }
            }
        }
        Ok(found)
    }
}

impl Collector for Btrfs {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut filesystems = Vec::new();
        for name in glob_dirs(&self.fs_btrfs, |name| has_parts(name, "", "-")) {
            filesystems.push(read_stats(&self.fs_btrfs.join(name))?);
        }
        if filesystems.is_empty() {
            record(&[], out);
            return Ok(());
        }
        let mut ioctl = self.ioctl_stats(sources).unwrap_or_else(|error| {
            tracing::debug!(%error, "querying btrfs device stats with ioctl");
            Vec::new()
        });
        let joined: Vec<_> = filesystems
            .into_iter()
            .map(|stats| {
                let key = stats.uuid.replace('-', "");
                let devices = ioctl
                    .iter()
                    .position(|(fsid, _)| *fsid == key)
                    .map(|i| ioctl.swap_remove(i).1);
                (stats, devices)
            })
            .collect();
        record(&joined, out);
        Ok(())
    }
}

/// The three read-only btrfs ioctls node_exporter uses (through dennwc/btrfs).
mod ioctl {
    use super::*;

    const MAGIC: u64 = 0x94;
    /// asm-generic `_IOC` (x86, arm, arm64, riscv).
    const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
        (dir << 30) | (size << 16) | (MAGIC << 8) | nr
    }
    const READ: u64 = 2;
    const READ_WRITE: u64 = 3;
    const FS_INFO: u64 = ioc(READ, 31, 1024);
    const DEV_INFO: u64 = ioc(READ_WRITE, 30, 4096);
    const GET_DEV_STATS: u64 = ioc(READ_WRITE, 52, 1032);
    const ENODEV: i32 = libc::ENODEV;

    fn call(fd: i32, request: u64, buf: &mut [u64]) -> io::Result<()> {
        // SAFETY: `buf` is as large as the struct the request's size field names, and
        // the kernel writes at most that many bytes.
        let rc = unsafe { libc::ioctl(fd, request as libc::Ioctl, buf.as_mut_ptr()) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn bytes(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    fn dashed_uuid(b: &[u8]) -> String {
        if b.iter().all(|&x| x == 0) {
            return "<zero>".to_string();
        }
        let hex =
            |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!(
            "{}-{}-{}-{}-{}",
            hex(0..4),
            hex(4..6),
            hex(6..8),
            hex(8..10),
            hex(10..16)
        )
    }

    /// `(fsid as hex, devices)` of the filesystem mounted at `path`.
    pub fn filesystem_devices(path: &Path) -> io::Result<(String, Vec<IoctlDevice>)> {
        let dir = std::fs::File::open(path)?;
        let fd = dir.as_raw_fd();
        let mut info = [0u64; 1024 / 8];
        call(fd, FS_INFO, &mut info)?;
        let (max_id, num_devices) = (info[0], info[1]);
        let fsid: String = bytes(&info[2..4])
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        let mut devices = Vec::new();
        for id in 0..=max_id {
            let mut dev = [0u64; 4096 / 8];
            dev[0] = id;
            match call(fd, DEV_INFO, &mut dev) {
                Err(e) if e.raw_os_error() == Some(ENODEV) => continue,
                other => other?,
            }
            let mut stats = [0u64; 1032 / 8];
            stats[0] = id;
            stats[1] = 5;
            call(fd, GET_DEV_STATS, &mut stats)?;
            let raw = bytes(&dev);
            let path_bytes = &raw[3072..4096];
            let end = path_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(path_bytes.len());
            devices.push(IoctlDevice {
                path: String::from_utf8_lossy(&path_bytes[..end]).into_owned(),
                uuid: dashed_uuid(&raw[8..24]),
                bytes_used: dev[3],
                total_bytes: dev[4],
                errors: [stats[3], stats[4], stats[5], stats[6], stats[7]],
            });
            if devices.len() as u64 == num_devices {
                break;
            }
        }
        Ok((fsid, devices))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn request_numbers_and_uuids() {
            assert_eq!(FS_INFO, 0x8400_941f);
            assert_eq!(DEV_INFO, 0xd000_941e);
            assert_eq!(GET_DEV_STATS, 0xc408_9434);
            assert_eq!(dashed_uuid(&[0; 16]), "<zero>");
            let id: Vec<u8> = (1..=16).collect();
            assert_eq!(dashed_uuid(&id), "01020304-0506-0708-090a-0b0c0d0e0f10");
            let dir = tempfile::tempdir().unwrap();
            assert!(filesystem_devices(dir.path()).is_err(), "not a btrfs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    const UUID: &str = "7e3b1f0c-94d2-4a6e-b58f-1c2d3e4f5a6b";

    #[test]
    fn the_fixture_gives_the_sysfs_families() {
        let mut out = MetricSet::new();
        Btrfs::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let u = [("uuid", UUID)];
        assert_eq!(
            out.value(
                "node_btrfs_info",
                &[("uuid", UUID), ("label", "backup-pool")]
            ),
            Some(1.0)
        );
        assert_eq!(
            out.value("node_btrfs_global_rsv_size_bytes", &u),
            Some(536870912.0)
        );
        assert_eq!(out.value("node_btrfs_commits_total", &u), Some(48211.0));
        assert_eq!(out.value("node_btrfs_last_commit_seconds", &u), Some(0.037));
        assert_eq!(out.value("node_btrfs_max_commit_seconds", &u), Some(2.814));
        assert_eq!(
            out.value("node_btrfs_commit_seconds_total", &u),
            Some(1764.393)
        );
        let bg = |t: &'static str| [("uuid", UUID), ("block_group_type", t)];
        assert_eq!(
            out.value("node_btrfs_reserved_bytes", &bg("data")),
            Some(2883584.0)
        );
        assert_eq!(
            out.value("node_btrfs_reserved_bytes", &bg("metadata")),
            Some(5472256.0)
        );
        assert_eq!(
            out.value("node_btrfs_reserved_bytes", &bg("system")),
            Some(0.0)
        );
        let m = |t: &'static str, mode: &'static str| {
            [("uuid", UUID), ("block_group_type", t), ("mode", mode)]
        };
        assert_eq!(
            out.value("node_btrfs_used_bytes", &m("data", "single")),
            Some(7514341376.0)
        );
        assert_eq!(
            out.value("node_btrfs_size_bytes", &m("data", "single")),
            Some(8053063680.0)
        );
        assert_eq!(
            out.value("node_btrfs_allocation_ratio", &m("data", "single")),
            Some(1.0)
        );
        assert_eq!(
            out.value("node_btrfs_used_bytes", &m("data", "raid1")),
            Some(804530479104.0)
        );
        assert_eq!(
            out.value("node_btrfs_size_bytes", &m("data", "raid1")),
            Some(853964529664.0)
        );
        assert_eq!(
            out.value("node_btrfs_allocation_ratio", &m("data", "raid1")),
            Some(2.0)
        );
        assert_eq!(
            out.value("node_btrfs_used_bytes", &m("metadata", "raid1")),
            Some(3436183552.0)
        );
        assert_eq!(
            out.value("node_btrfs_size_bytes", &m("system", "raid1")),
            Some(33554432.0)
        );
        let d = |dev: &'static str| [("uuid", UUID), ("device", dev)];
        assert_eq!(
            out.value("node_btrfs_device_size_bytes", &d("sdl")),
            Some(3907029168.0 * 512.0)
        );
        assert_eq!(
            out.value("node_btrfs_device_size_bytes", &d("sdm")),
            Some(3907028992.0 * 512.0)
        );
        let lines = rendered(&out, |name| name.starts_with("node_btrfs_"));
        // 11 families; 1+1+1+1+1+1 + 3 reserved + 4 layouts × 3 + 2 devices samples.
        assert_eq!(lines.len(), 11 * 2 + 6 + 3 + 12 + 2);
        assert!(lines.contains(&Line::Help(
            "node_btrfs_info".into(),
            "Filesystem information".into()
        )));
        assert!(lines.contains(&Line::Type(
            "node_btrfs_commit_seconds_total".into(),
            "counter".into()
        )));
        assert!(out.get("node_btrfs_device_errors_total").is_none());
    }

    #[test]
    fn ioctl_devices_replace_the_sysfs_sizes() {
        let stats = read_stats(&fixture_paths().sys("fs/btrfs").join(UUID)).unwrap();
        let device = IoctlDevice {
            path: "/dev/sdl".into(),
            uuid: "0a1b2c3d-0000-4000-8000-000000000001".into(),
            bytes_used: 600,
            total_bytes: 1000,
            errors: [1, 2, 3, 4, 5],
        };
        let mut out = MetricSet::new();
        record(&[(stats, Some(vec![device]))], &mut out);
        let l = [
            ("uuid", UUID),
            ("device", "sdl"),
            ("btrfs_dev_uuid", "0a1b2c3d-0000-4000-8000-000000000001"),
        ];
        assert_eq!(out.value("node_btrfs_device_size_bytes", &l), Some(1000.0));
        assert_eq!(out.value("node_btrfs_device_unused_bytes", &l), Some(400.0));
        assert_eq!(
            out.value(
                "node_btrfs_device_errors_total",
                &[("type", "corruption"), ("device", "sdl")]
            ),
            Some(4.0)
        );
        assert_eq!(
            out.get("node_btrfs_device_size_bytes").map(|f| f.len()),
            Some(1)
        );
    }

    #[test]
    fn commit_stats_errors_name_the_line() {
        let mut stats = read_stats(&fixture_paths().sys("fs/btrfs").join(UUID)).unwrap();
        let err = parse_commit_stats("commits 1\nlast_commit_ms\n", Path::new("c"), &mut stats)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c:2: invalid commit_stats line \"last_commit_ms\""
        );
        let err = parse_commit_stats("commits x\n", Path::new("c"), &mut stats).unwrap_err();
        assert_eq!(err.to_string(), "c:1: commits: not a number: \"x\"");
        assert_eq!(ratio("raid5", 3), 1.5);
        assert_eq!(ratio("raid6", 4), 2.0);
        assert_eq!(ratio("raid1c3", 4), 0.0);
    }

    #[test]
    fn no_btrfs_is_success_with_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        Btrfs::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        assert!(out.families().iter().all(|f| f.is_empty()));
    }
}
