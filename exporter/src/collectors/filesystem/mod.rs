//! `node_filesystem_*`: size, free and available bytes, inodes, read-only status,
//! `device_error` and `mount_info` of every mounted filesystem that the include/exclude
//! flags let through.
//!
//! As in node_exporter 1.12, every `node_filesystem_*` series except `mount_info` carries a
//! `device_error` label: empty when statfs answered, otherwise the error as Go writes it
//! (`no such file or directory`, or `mountpoint timeout` for a stuck mount). A broken
//! mount still gets `device_error` (1) and `readonly` (from its mount options; 0 for a
//! stuck one, whose options node_exporter does not look at); the usage families and
//! `mount_info{device,major,minor,mountpoint}` only a working one.
//!
//! The mount table is the host's, `<procfs>/1/mountinfo` (or this process's when PID 1
//! is hidden); each mount point is statfs'd through `--path.rootfs`. A statfs that does
//! not return within `--collector.filesystem.mount-timeout` (a dead NFS server) never
//! holds the scrape longer than that: see [`statfs`].
//!
//! Differences from node_exporter 1.5, which reads `/proc/1/mounts`: mountinfo gives
//! the same device, mount point and type; read-only is "ro" in either its per-mount or
//! its superblock options (which is what `/proc/mounts` shows); the mount point is
//! unescaped for every octal escape (`\040`, `\011`, `\012`, `\134`), not only the first two.

pub mod statfs;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::Arg;
use regex_lite::Regex;

use crate::collector::{BuildContext, Collector, CollectorSpec, DeviceFilter};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::sources::Sources;
use edge_common::duration::parse_go_duration;
use edge_common::exposition::{MetricKind, MetricSet};

pub use statfs::{FsUsage, Outcome, StatFs, StatFsRunner, SystemStatFs};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "filesystem",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(Filesystem::build(ctx)?)),
};

const MOUNT_POINTS_EXCLUDE_FLAG: &str = "collector.filesystem.mount-points-exclude";
const MOUNT_POINTS_INCLUDE_FLAG: &str = "collector.filesystem.mount-points-include";
const FS_TYPES_EXCLUDE_FLAG: &str = "collector.filesystem.fs-types-exclude";
const FS_TYPES_INCLUDE_FLAG: &str = "collector.filesystem.fs-types-include";
const MOUNT_TIMEOUT_FLAG: &str = "collector.filesystem.mount-timeout";
const STAT_WORKERS_FLAG: &str = "collector.filesystem.stat-workers";
/// node_exporter's hidden, deprecated names of the two exclude flags, still accepted.
const OLD_MOUNT_POINTS_FLAG: &str = "collector.filesystem.ignored-mount-points";
const OLD_FS_TYPES_FLAG: &str = "collector.filesystem.ignored-fs-types";

/// Upstream node_exporter 1.12's defaults (Debian's 1.5 build patches the first one;
/// `erofs` joined the second in 1.10).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
const DEFAULT_MOUNT_TIMEOUT: &str = "5s";
/// What `device_error` says of a mount whose statfs did not return in time (node_exporter's text).
const STUCK_ERROR: &str = "mountpoint timeout";

fn args() -> Vec<Arg> {
    vec![
        Arg::new(MOUNT_POINTS_EXCLUDE_FLAG)
            .long(MOUNT_POINTS_EXCLUDE_FLAG)
            .default_value(DEFAULT_MOUNT_POINTS_EXCLUDE)
            .help("Regexp of mount points to exclude for filesystem collector. (mutually exclusive to mount-points-include)"),
        Arg::new(MOUNT_POINTS_INCLUDE_FLAG)
            .long(MOUNT_POINTS_INCLUDE_FLAG)
            .help("Regexp of mount points to include for filesystem collector. (mutually exclusive to mount-points-exclude)"),
        Arg::new(FS_TYPES_EXCLUDE_FLAG)
            .long(FS_TYPES_EXCLUDE_FLAG)
            .default_value(DEFAULT_FS_TYPES_EXCLUDE)
            .help("Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-include)"),
        // node_exporter's help text says "exclude" here too.
        Arg::new(FS_TYPES_INCLUDE_FLAG)
            .long(FS_TYPES_INCLUDE_FLAG)
            .help("Regexp of filesystem types to exclude for filesystem collector. (mutually exclusive to fs-types-exclude)"),
        // Hidden in node_exporter; shown here, as the one bound on a dead mount.
        Arg::new(MOUNT_TIMEOUT_FLAG)
            .long(MOUNT_TIMEOUT_FLAG)
            .default_value(DEFAULT_MOUNT_TIMEOUT)
            .help("how long to wait for a mount to respond before marking it as stale"),
        // Accepted for compatibility: our runner keeps one worker per scrape and adds
        // others (up to statfs::STATFS_WORKERS) only when one stalls.
        Arg::new(STAT_WORKERS_FLAG)
            .long(STAT_WORKERS_FLAG)
            .hide(true)
            .default_value("4")
            .value_parser(clap::value_parser!(i64))
            .help("how many stat calls to process simultaneously"),
        Arg::new(OLD_MOUNT_POINTS_FLAG)
            .long(OLD_MOUNT_POINTS_FLAG)
            .hide(true)
            .help("Regexp of mount points to ignore for filesystem collector."),
        Arg::new(OLD_FS_TYPES_FLAG)
            .long(OLD_FS_TYPES_FLAG)
            .hide(true)
            .help("Regexp of filesystem types to ignore for filesystem collector."),
    ]
}

/// One include/exclude pair as node_exporter 1.12 reads it: the exclude flag (or its
/// deprecated name when that is given instead: giving both is an error), dropped when only
/// the include flag is given; both given is an error.
fn mount_filter(
    ctx: &BuildContext,
    exclude_flag: &str,
    include_flag: &str,
    old_flag: &str,
) -> Result<DeviceFilter, ConfigError> {
    let exclude_given = ctx.matches.value_source(exclude_flag) == Some(ValueSource::CommandLine);
    let mut exclude = if ctx.string(old_flag).is_none() {
        ctx.regex(exclude_flag)?
    } else if exclude_given {
        return Err(ConfigError::new(
            format!("--{old_flag}"),
            format!("cannot be combined with --{exclude_flag}"),
        ));
    } else {
        tracing::warn!(
            "--{old_flag} is DEPRECATED and will be removed in 2.0.0, use --{exclude_flag}"
        );
        ctx.regex(old_flag)?
    };
    let include = ctx.regex(include_flag)?;
    if include.is_some() && !exclude_given && ctx.string(old_flag).is_none() {
        exclude = None;
    }
    match (include, exclude) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            format!("--{exclude_flag}"),
            format!("cannot be combined with --{include_flag}"),
        )),
        (Some(include), None) => Ok(DeviceFilter::Include(include)),
        (None, Some(exclude)) => Ok(DeviceFilter::Exclude(exclude)),
        (None, None) => Ok(DeviceFilter::All),
    }
}

/// One line of `/proc/<pid>/mountinfo`, with what node_exporter takes from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// The mount source, as the kernel writes it (node_exporter does not unescape it).
    pub device: String,
    /// The mount point, unescaped, as the host's mount namespace sees it.
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
    /// The device numbers of the mount (`st_dev`), as decimal text.
    pub major: String,
    pub minor: String,
}

/// Parses a mountinfo table: `id parent major:minor root mountpoint options
/// [optional fields…] - fstype source super-options` (proc(5)).
pub fn parse_mountinfo(text: &str, path: &Path) -> Result<Vec<Mount>, CollectError> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let separator = fields
            .iter()
            .skip(6)
            .position(|f| *f == "-")
            .map(|p| p + 6)
            .ok_or_else(|| {
                CollectError::parse(path, line_no, "expected 6 fields and a \" - \" separator")
            })?;
        let (Some(fs_type), Some(device)) = (fields.get(separator + 1), fields.get(separator + 2))
        else {
            return Err(CollectError::parse(
                path,
                line_no,
                "missing filesystem type or source after \" - \"",
            ));
        };
        let super_options = fields.get(separator + 3).copied().unwrap_or("");
        let (major, minor) = fields[2]
            .split_once(':')
            .and_then(|(major, minor)| {
                Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
            })
            .ok_or_else(|| {
                CollectError::parse(
                    path,
                    line_no,
                    format!("malformed major:minor {:?}", fields[2]),
                )
            })?;
        let has_ro = |options: &str| options.split(',').any(|o| o == "ro");
        mounts.push(Mount {
            device: (*device).to_string(),
            mount_point: unescape_octal(fields[4]),
            fs_type: (*fs_type).to_string(),
            read_only: has_ro(fields[5]) || has_ro(super_options),
            major: major.to_string(),
            minor: minor.to_string(),
        });
    }
    Ok(mounts)
}

/// Undoes the kernel's escaping of mount table fields: `\` and three octal digits.
fn unescape_octal(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which mounts are reported: node_exporter's mount-point and fs-type filters.
#[derive(Debug, Clone)]
pub struct MountFilter {
    pub mount_points: DeviceFilter,
    pub fs_types: DeviceFilter,
}

impl MountFilter {
    /// The defaults: upstream's two exclude patterns.
    pub fn upstream_defaults() -> Self {
        let exclude = |re| Regex::new(re).map_or(DeviceFilter::All, DeviceFilter::Exclude);
        MountFilter {
            mount_points: exclude(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types: exclude(DEFAULT_FS_TYPES_EXCLUDE),
        }
    }

    pub fn accepts(&self, mount_point: &str, fs_type: &str) -> bool {
        self.mount_points.accepts(mount_point) && self.fs_types.accepts(fs_type)
    }
}

/// One reported filesystem: its labels and what statfs said.
#[derive(Debug, Clone, PartialEq)]
struct FilesystemStats {
    device: String,
    fs_type: String,
    mount_point: String,
    read_only: bool,
    major: String,
    minor: String,
    /// What statfs said: usage, or the error text for the `device_error` label.
    usage: Result<FsUsage, String>,
}

pub struct Filesystem {
    paths: Paths,
    filter: MountFilter,
    runner: StatFsRunner,
}

impl Filesystem {
    pub fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let filter = MountFilter {
            mount_points: mount_filter(
                ctx,
                MOUNT_POINTS_EXCLUDE_FLAG,
                MOUNT_POINTS_INCLUDE_FLAG,
                OLD_MOUNT_POINTS_FLAG,
            )?,
            fs_types: mount_filter(
                ctx,
                FS_TYPES_EXCLUDE_FLAG,
                FS_TYPES_INCLUDE_FLAG,
                OLD_FS_TYPES_FLAG,
            )?,
        };
        let timeout_text = ctx
            .string(MOUNT_TIMEOUT_FLAG)
            .unwrap_or_else(|| DEFAULT_MOUNT_TIMEOUT.to_string());
        let timeout = parse_go_duration(&timeout_text)
            .map_err(|m| ConfigError::new(format!("--{MOUNT_TIMEOUT_FLAG}"), m))?;
        if timeout.is_zero() {
            return Err(ConfigError::new(
                format!("--{MOUNT_TIMEOUT_FLAG}"),
                "must be longer than 0",
            ));
        }
        Ok(Filesystem::new(
            ctx.paths,
            filter,
            StatFsRunner::new(Arc::new(SystemStatFs), timeout),
        ))
    }

    pub fn new(paths: &Paths, filter: MountFilter, runner: StatFsRunner) -> Self {
        Filesystem {
            paths: paths.clone(),
            filter,
            runner,
        }
    }

    /// The host's mounts: PID 1's table, or ours when PID 1 is hidden (hidepid).
    fn mounts(&self, sources: &mut Sources) -> Result<Vec<Mount>, CollectError> {
        let host = self.paths.proc("1/mountinfo");
        match sources.table(&host) {
            Ok(text) => parse_mountinfo(text, &host),
            Err(error) => {
                tracing::debug!(%error, "reading PID 1's mount table failed, using our own");
                let own = self.paths.proc("self/mountinfo");
                parse_mountinfo(sources.table(&own)?, &own)
            }
        }
    }

    fn stats(&mut self, mounts: Vec<Mount>) -> Result<Vec<FilesystemStats>, CollectError> {
        let mut seen = HashSet::new();
        let mut selected = Vec::new();
        for mount in mounts {
            let mount_point = self.paths.strip_rootfs(&mount.mount_point).to_string();
            if !self.filter.accepts(&mount_point, &mount.fs_type) {
                continue;
            }
            // A mount point can be listed twice (mounted again over itself): the first wins,
            // as the first of duplicate series does in node_exporter.
            if !seen.insert((
                mount.device.clone(),
                mount_point.clone(),
                mount.fs_type.clone(),
            )) {
                continue;
            }
            selected.push((mount, mount_point));
        }
        let jobs: Vec<(String, PathBuf)> = selected
            .iter()
            .map(|(_, mount_point)| (mount_point.clone(), self.paths.rootfs_path(mount_point)))
            .collect();
        let outcomes = self
            .runner
            .stat_all(&jobs)
            .map_err(|source| CollectError::System {
                context: "starting a statfs thread".into(),
                source,
            })?;
        let mut stats = Vec::with_capacity(selected.len());
        for (((mount, mount_point), (_, path)), outcome) in
            selected.into_iter().zip(&jobs).zip(outcomes)
        {
            let usage = match outcome {
                Outcome::Done(Ok(usage)) => Ok(usage),
                // Not asked before the deadline (every worker stalled): as a timeout.
                Outcome::Done(Err(error))
                    if error.kind() == std::io::ErrorKind::TimedOut
                        && error.raw_os_error().is_none() =>
                {
                    Err(STUCK_ERROR.to_string())
                }
                Outcome::Done(Err(error)) => {
                    tracing::debug!(path = %path.display(), %error, "statfs failed");
                    Err(go_error_text(&error))
                }
                Outcome::Stuck => Err(STUCK_ERROR.to_string()),
            };
            stats.push(FilesystemStats {
                device: mount.device,
                fs_type: mount.fs_type,
                mount_point,
                read_only: mount.read_only,
                major: mount.major,
                minor: mount.minor,
                usage,
            });
        }
        // node_exporter's samples are sorted by label values: device, device_error,
        // fstype, mountpoint.
        stats.sort_by(|a, b| {
            fn key(s: &FilesystemStats) -> (&str, &str, &str, &str) {
                let error = s.usage.as_ref().err().map_or("", String::as_str);
                (&s.device, error, &s.fs_type, &s.mount_point)
            }
            key(a).cmp(&key(b))
        });
        Ok(stats)
    }
}

/// An error as Go's `err.Error()` writes it, which is what node_exporter puts in
/// `device_error`: for a system error the C library's message with a lower-case first
/// letter and no "(os error N)" (Go's errno table: "no such file or directory").
fn go_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let Some(code) = error.raw_os_error() else {
        return text;
    };
    let message = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {code}"),
    }
}

type UsageField = fn(&FsUsage) -> f64;

/// The families node_exporter emits only for a filesystem statfs answered.
const USAGE_FAMILIES: [(&str, &str, UsageField); 5] = [
    (
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        |u| u.size_bytes,
    ),
    (
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
        |u| u.free_bytes,
    ),
    (
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        |u| u.avail_bytes,
    ),
    (
        "node_filesystem_files",
        "Filesystem total file nodes.",
        |u| u.files,
    ),
    (
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
        |u| u.files_free,
    ),
];

fn fs_labels(s: &FilesystemStats) -> [(&'static str, &str); 4] {
    [
        ("device", s.device.as_str()),
        (
            "device_error",
            s.usage.as_ref().err().map_or("", String::as_str),
        ),
        ("fstype", s.fs_type.as_str()),
        ("mountpoint", s.mount_point.as_str()),
    ]
}

fn record(stats: &[FilesystemStats], out: &mut MetricSet) {
    let family = out.family(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
        MetricKind::Gauge,
    );
    for s in stats {
        family.push(&fs_labels(s), if s.usage.is_ok() { 0.0 } else { 1.0 });
    }
    // node_exporter 1.12 reports read-only status (from the mount options) for a mount
    // whose statfs failed too; for one marked stuck it reports 0, as it never looks at
    // that mount's options.
    let family = out.family(
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        MetricKind::Gauge,
    );
    for s in stats {
        let stuck = matches!(&s.usage, Err(error) if error == STUCK_ERROR);
        family.push(&fs_labels(s), if s.read_only && !stuck { 1.0 } else { 0.0 });
    }
    for (name, help, field) in USAGE_FAMILIES {
        for s in stats {
            if let Ok(usage) = &s.usage {
                out.family(name, help, MetricKind::Gauge)
                    .push(&fs_labels(s), field(usage));
            }
        }
    }
    // Sorted by its own labels: device, major, minor, mountpoint.
    let mut mounted: Vec<&FilesystemStats> = stats.iter().filter(|s| s.usage.is_ok()).collect();
    mounted.sort_by(|a, b| {
        (&a.device, &a.major, &a.minor, &a.mount_point).cmp(&(
            &b.device,
            &b.major,
            &b.minor,
            &b.mount_point,
        ))
    });
    for s in mounted {
        out.family(
            "node_filesystem_mount_info",
            "Filesystem mount information.",
            MetricKind::Gauge,
        )
        .push(
            &[
                ("device", s.device.as_str()),
                ("major", s.major.as_str()),
                ("minor", s.minor.as_str()),
                ("mountpoint", s.mount_point.as_str()),
            ],
            1.0,
        );
    }
}

impl Collector for Filesystem {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mounts = self.mounts(sources)?;
        let stats = self.stats(mounts)?;
        record(&stats, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use super::statfs::tests::{wait_until, FakeStatFs, FAKE_USAGE};
    use super::*;
    use std::time::Duration;

    const MOUNTINFO: &str = "\
22 1 0:21 / /proc rw,relatime shared:5 - proc proc rw
29 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
30 29 259:1 / /boot/efi ro,relatime shared:2 master:1 - vfat /dev/nvme0n1p1 rw,fmask=0077
31 29 0:40 / /srv/nfs\\040share rw - nfs4 fs:/export rw,vers=4.2
32 29 253:0 / /data rw - xfs /dev/mapper/vg0-data ro
33 29 253:0 / /data rw - xfs /dev/mapper/vg0-data rw
34 29 0:50 / /odd\\011tab\\012nl\\134bs\\134x rw - tmpfs my\\040tmp rw
";

    #[test]
    fn parses_mountinfo() {
        let mounts = parse_mountinfo(MOUNTINFO, Path::new("mountinfo")).unwrap();
        let mount = |device: &str, mount_point: &str, fs_type: &str, read_only| Mount {
            device: device.into(),
            mount_point: mount_point.into(),
            fs_type: fs_type.into(),
            read_only,
            major: String::new(),
            minor: String::new(),
        };
        let numbers: Vec<(&str, &str)> = mounts
            .iter()
            .map(|m| (m.major.as_str(), m.minor.as_str()))
            .collect();
        assert_eq!(
            numbers,
            [
                ("0", "21"),
                ("259", "2"),
                ("259", "1"),
                ("0", "40"),
                ("253", "0"),
                ("253", "0"),
                ("0", "50")
            ]
        );
        let mounts: Vec<Mount> = mounts
            .into_iter()
            .map(|m| Mount {
                major: String::new(),
                minor: String::new(),
                ..m
            })
            .collect();
        assert_eq!(
            mounts,
            vec![
                mount("proc", "/proc", "proc", false),
                mount("/dev/nvme0n1p2", "/", "ext4", false),
                mount("/dev/nvme0n1p1", "/boot/efi", "vfat", true),
                mount("fs:/export", "/srv/nfs share", "nfs4", false),
                // Read-only in the superblock options: /proc/mounts says "ro" too.
                mount("/dev/mapper/vg0-data", "/data", "xfs", true),
                mount("/dev/mapper/vg0-data", "/data", "xfs", false),
                mount("my\\040tmp", "/odd\ttab\nnl\\bs\\x", "tmpfs", false),
            ]
        );
    }

    #[test]
    fn rejects_malformed_mountinfo_with_its_place() {
        let p = Path::new("mountinfo");
        let err = parse_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n29 1 259:2 / /\n", p)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "mountinfo:2: expected 6 fields and a \" - \" separator"
        );
        let err = parse_mountinfo("29 1 259-2 / / rw - ext4 /dev/x rw\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mountinfo:1: malformed major:minor \"259-2\""
        );
        let err = parse_mountinfo("29 1 259:2 / / rw shared:1 - ext4\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mountinfo:1: missing filesystem type or source after \" - \""
        );
    }

    #[test]
    fn unescapes_only_three_digit_octal() {
        assert_eq!(unescape_octal(r"/a\040b"), "/a b");
        assert_eq!(unescape_octal(r"/a\04"), r"/a\04");
        assert_eq!(unescape_octal(r"/a\999\"), r"/a\999\");
        assert_eq!(unescape_octal(r"/\303\251t\303\251"), "/été");
    }

    fn build(argv: &[&str]) -> Result<Filesystem, ConfigError> {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(argv)
            .unwrap();
        let paths = Paths::default();
        Filesystem::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
    }

    #[test]
    fn flags_default_to_upstream_1_12() {
        let fs = build(&["t"]).unwrap();
        for excluded in [
            "/proc",
            "/sys/fs/cgroup",
            "/dev",
            "/run/credentials/x.service",
            "/var/lib/docker/overlay2/x",
        ] {
            assert!(!fs.filter.accepts(excluded, "ext4"), "{excluded}");
        }
        for kept in [
            "/",
            "/run",
            "/run/credentials",
            "/var/lib/docker",
            "/devices",
            "/boot/efi",
        ] {
            assert!(fs.filter.accepts(kept, "ext4"), "{kept}");
        }
        for excluded in ["cgroup2", "overlay", "squashfs", "erofs", "nsfs", "tracefs"] {
            assert!(!fs.filter.accepts("/x", excluded), "{excluded}");
        }
        assert!(fs.filter.accepts("/x", "tmpfs") && fs.filter.accepts("/x", "nfs4"));
    }

    #[test]
    fn timeout_and_deprecated_flags() {
        assert!(build(&["t", "--collector.filesystem.mount-timeout=500ms"]).is_ok());
        let err = build(&["t", "--collector.filesystem.mount-timeout=5x"])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "--collector.filesystem.mount-timeout: unknown unit \"x\" in duration \"5x\""
        );
        assert!(build(&["t", "--collector.filesystem.mount-timeout=0s"]).is_err());
        let fs = build(&["t", "--collector.filesystem.ignored-fs-types=^nfs4$"]).unwrap();
        assert!(!fs.filter.accepts("/x", "nfs4") && fs.filter.accepts("/x", "overlay"));
        let err = build(&[
            "t",
            "--collector.filesystem.ignored-mount-points=^/a",
            "--collector.filesystem.mount-points-exclude=^/b",
        ])
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "--collector.filesystem.ignored-mount-points: cannot be combined with --collector.filesystem.mount-points-exclude"
        );
        assert!(build(&["t", "--collector.filesystem.fs-types-exclude=("]).is_err());
        assert!(build(&["t", "--collector.filesystem.stat-workers=8"]).is_ok());
    }

    #[test]
    fn include_flags_replace_the_default_exclude() {
        let fs = build(&[
            "t",
            "--collector.filesystem.mount-points-include=^/(proc|data)$",
        ])
        .unwrap();
        assert!(fs.filter.accepts("/proc", "ext4") && fs.filter.accepts("/data", "ext4"));
        assert!(!fs.filter.accepts("/", "ext4"));
        let fs = build(&["t", "--collector.filesystem.fs-types-include=^overlay$"]).unwrap();
        assert!(fs.filter.accepts("/x", "overlay") && !fs.filter.accepts("/x", "ext4"));
        let err = build(&[
            "t",
            "--collector.filesystem.fs-types-include=^a$",
            "--collector.filesystem.fs-types-exclude=^b$",
        ])
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "--collector.filesystem.fs-types-exclude: cannot be combined with --collector.filesystem.fs-types-include"
        );
    }

    #[test]
    fn device_error_text_is_gos() {
        let text = |code| go_error_text(&std::io::Error::from_raw_os_error(code));
        assert_eq!(text(libc::ENOENT), "no such file or directory");
        assert_eq!(text(libc::EACCES), "permission denied");
        assert_eq!(text(libc::ESTALE), "stale file handle");
        assert_eq!(
            go_error_text(&std::io::Error::other("no statfs answer")),
            "no statfs answer"
        );
    }

    /// A procfs holding `mountinfo` as PID 1's table, and a rootfs beside it.
    fn tree(mountinfo: &str) -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/1")).unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("proc/1/mountinfo"), mountinfo).unwrap();
        let paths = Paths::under(dir.path());
        (dir, paths)
    }

    fn labels(device: &str, fs_type: &str, mount_point: &str) -> [(&'static str, String); 4] {
        broken(device, fs_type, mount_point, "")
    }

    /// The labels of a mount whose statfs failed with `error`.
    fn broken(
        device: &str,
        fs_type: &str,
        mount_point: &str,
        error: &str,
    ) -> [(&'static str, String); 4] {
        [
            ("device", device.to_string()),
            ("device_error", error.to_string()),
            ("fstype", fs_type.to_string()),
            ("mountpoint", mount_point.to_string()),
        ]
    }

    fn value(set: &MetricSet, name: &str, l: &[(&'static str, String)]) -> Option<f64> {
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        set.value(name, &l)
    }

    fn scrape(fs: &mut Filesystem) -> MetricSet {
        let mut out = MetricSet::new();
        fs.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn reports_like_node_exporter_with_a_fake_statfs() {
        let (_dir, paths) = tree(MOUNTINFO);
        let fake = Arc::new(FakeStatFs::default());
        let filter = MountFilter::upstream_defaults();
        let runner = StatFsRunner::new(fake.clone(), Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, filter, runner);
        let set = scrape(&mut fs);

        let errors = &set.get("node_filesystem_device_error").unwrap().samples();
        let listed: Vec<_> = errors
            .iter()
            .map(|s| (s.labels[0].1.as_str(), s.labels[3].1.as_str(), s.value))
            .collect();
        // Sorted by device, /proc excluded, the duplicate /data reported once (the first).
        assert_eq!(
            listed,
            vec![
                ("/dev/mapper/vg0-data", "/data", 0.0),
                ("/dev/nvme0n1p1", "/boot/efi", 0.0),
                ("/dev/nvme0n1p2", "/", 0.0),
                ("fs:/export", "/srv/nfs share", 0.0),
                ("my\\040tmp", "/odd\ttab\nnl\\bs\\x", 0.0),
            ]
        );
        let root = labels("/dev/nvme0n1p2", "ext4", "/");
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &root),
            Some(409600.0)
        );
        assert_eq!(
            value(&set, "node_filesystem_free_bytes", &root),
            Some(245760.0)
        );
        assert_eq!(
            value(&set, "node_filesystem_avail_bytes", &root),
            Some(204800.0)
        );
        assert_eq!(value(&set, "node_filesystem_files", &root), Some(1000.0));
        assert_eq!(
            value(&set, "node_filesystem_files_free", &root),
            Some(900.0)
        );
        assert_eq!(value(&set, "node_filesystem_readonly", &root), Some(0.0));
        let data = labels("/dev/mapper/vg0-data", "xfs", "/data");
        assert_eq!(value(&set, "node_filesystem_readonly", &data), Some(1.0));
        assert_eq!(
            set.value(
                "node_filesystem_mount_info",
                &[
                    ("device", "/dev/mapper/vg0-data"),
                    ("major", "253"),
                    ("minor", "0"),
                    ("mountpoint", "/data")
                ]
            ),
            Some(1.0)
        );
        // statfs went through rootfs.
        assert_eq!(fake.calls(&paths.rootfs.join("boot/efi")), 1);
        assert_eq!(fake.calls(&paths.rootfs.join("data")), 1);
    }

    #[test]
    fn a_failing_statfs_gives_device_error_and_readonly() {
        let (_dir, paths) = tree(
            "29 1 259:2 / / rw - ext4 /dev/sda1 rw\n40 29 0:50 / /mnt/error rw - cifs //srv/x rw\n",
        );
        let fake = Arc::new(FakeStatFs::default());
        let runner = StatFsRunner::new(fake, Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, all(), runner);
        let set = scrape(&mut fs);
        // FakeStatFs answers EACCES for a path ending in "error".
        let bad = broken("//srv/x", "cifs", "/mnt/error", "permission denied");
        assert_eq!(value(&set, "node_filesystem_device_error", &bad), Some(1.0));
        assert_eq!(value(&set, "node_filesystem_readonly", &bad), Some(0.0));
        for (name, _, _) in USAGE_FAMILIES {
            assert_eq!(value(&set, name, &bad), None, "{name}");
            assert!(value(&set, name, &labels("/dev/sda1", "ext4", "/")).is_some());
        }
        let info = set.get("node_filesystem_mount_info").unwrap().samples();
        assert_eq!(info.len(), 1, "{info:?}");
    }

    #[test]
    fn a_hanging_mount_never_holds_a_scrape_past_the_timeout() {
        let (_dir, paths) = tree(
            "29 1 259:2 / / rw - ext4 /dev/sda1 rw\n\
             40 29 0:50 / /mnt/hang rw - nfs4 srv:/x rw\n\
             41 29 0:51 / /mnt/after rw - nfs4 srv:/y ro\n",
        );
        let fake = Arc::new(FakeStatFs::default());
        let timeout = Duration::from_millis(200);
        let runner = StatFsRunner::new(fake.clone(), timeout);
        let mut fs = Filesystem::new(&paths, all(), runner);
        let hang = broken("srv:/x", "nfs4", "/mnt/hang", "mountpoint timeout");
        let after = labels("srv:/y", "nfs4", "/mnt/after");
        let hang_path: PathBuf = paths.rootfs.join("mnt/hang");

        let started = Instant::now();
        let set = scrape(&mut fs);
        let took = started.elapsed();
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(500),
            "{took:?}"
        );
        assert_eq!(
            value(&set, "node_filesystem_device_error", &hang),
            Some(1.0)
        );
        assert_eq!(value(&set, "node_filesystem_size_bytes", &hang), None);
        // The mounts after the stuck one are served by a fresh worker.
        assert_eq!(
            value(&set, "node_filesystem_device_error", &after),
            Some(0.0)
        );
        assert_eq!(value(&set, "node_filesystem_readonly", &after), Some(1.0));
        assert_eq!(value(&set, "node_filesystem_readonly", &hang), Some(0.0));
        assert_eq!(
            (fs.runner.workers_started(), fs.runner.live_workers()),
            (2, 2)
        );

        // Still stuck: reported at once, without a call or a thread.
        let started = Instant::now();
        let set = scrape(&mut fs);
        assert!(started.elapsed() < timeout);
        assert_eq!(
            value(&set, "node_filesystem_device_error", &hang),
            Some(1.0)
        );
        assert_eq!(fake.calls(&hang_path), 1);
        assert_eq!(
            (fs.runner.workers_started(), fs.runner.live_workers()),
            (2, 2)
        );

        // The server comes back: the abandoned worker clears the mark and exits.
        fake.release();
        wait_until("the stuck mark to clear", || fs.runner.stuck_count() == 0);
        wait_until("the abandoned worker to exit", || {
            fs.runner.live_workers() == 1
        });
        let set = scrape(&mut fs);
        let hang = labels("srv:/x", "nfs4", "/mnt/hang");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &hang),
            Some(0.0)
        );
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &hang),
            Some(FAKE_USAGE.size_bytes)
        );
        assert_eq!(fake.calls(&hang_path), 2);
        assert_eq!(
            (fs.runner.workers_started(), fs.runner.live_workers()),
            (2, 1)
        );
    }

    #[test]
    fn dead_mounts_cost_one_deadline_together() {
        // Three dead network mounts among healthy ones: checked concurrently, the
        // scrape waits one timeout, not three.
        let (_dir, paths) = tree(
            "29 1 259:2 / / rw - ext4 /dev/sda1 rw\n\
             40 29 0:50 / /mnt/a/hang rw - nfs4 srv:/a rw\n\
             41 29 0:51 / /mnt/b/hang rw - nfs4 srv:/b rw\n\
             42 29 0:52 / /mnt/c/hang rw - nfs4 srv:/c rw\n",
        );
        let fake = Arc::new(FakeStatFs::default());
        let timeout = Duration::from_millis(300);
        let mut fs = Filesystem::new(&paths, all(), StatFsRunner::new(fake.clone(), timeout));
        let started = Instant::now();
        let set = scrape(&mut fs);
        let took = started.elapsed();
        assert!(
            took >= timeout && took < timeout * 2,
            "3 dead mounts took {took:?} with a {timeout:?} timeout"
        );
        for (device, mount_point) in [
            ("srv:/a", "/mnt/a/hang"),
            ("srv:/b", "/mnt/b/hang"),
            ("srv:/c", "/mnt/c/hang"),
        ] {
            assert_eq!(
                value(
                    &set,
                    "node_filesystem_device_error",
                    &broken(device, "nfs4", mount_point, "mountpoint timeout")
                ),
                Some(1.0),
                "{mount_point}"
            );
        }
        assert_eq!(
            value(
                &set,
                "node_filesystem_device_error",
                &labels("/dev/sda1", "ext4", "/")
            ),
            Some(0.0)
        );
        assert_eq!(fs.runner.stuck_count(), 3);
        fake.release();
        wait_until("the stuck marks to clear", || fs.runner.stuck_count() == 0);
    }

    #[test]
    fn falls_back_to_our_own_mount_table_and_strips_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("host");
        std::fs::create_dir_all(rootfs.join("boot")).unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        let host = rootfs.to_str().unwrap();
        std::fs::write(
            dir.path().join("proc/self/mountinfo"),
            format!("29 1 8:1 / {host} rw - ext4 /dev/sda1 rw\n30 29 8:2 / {host}/boot rw - ext4 /dev/sda2 rw\n31 29 8:3 / {host}/gone rw - ext4 /dev/sda3 rw\n"),
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.path().join("proc"),
            rootfs: rootfs.clone(),
            ..Paths::default()
        };
        let runner = StatFsRunner::new(Arc::new(SystemStatFs), Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, all(), runner);
        let set = scrape(&mut fs);
        let real = SystemStatFs.statfs(&rootfs).unwrap();
        for (device, mount_point) in [("/dev/sda1", "/"), ("/dev/sda2", "/boot")] {
            let l = labels(device, "ext4", mount_point);
            assert_eq!(value(&set, "node_filesystem_device_error", &l), Some(0.0));
            assert_eq!(
                value(&set, "node_filesystem_size_bytes", &l),
                Some(real.size_bytes)
            );
            assert_eq!(value(&set, "node_filesystem_files", &l), Some(real.files));
        }
        let gone = broken("/dev/sda3", "ext4", "/gone", "no such file or directory");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &gone),
            Some(1.0)
        );
    }

    use crate::test_support::{fixture_paths, parse_text, rendered, Line};

    fn default_filter() -> MountFilter {
        MountFilter::upstream_defaults()
    }

    fn all() -> MountFilter {
        MountFilter {
            mount_points: DeviceFilter::All,
            fs_types: DeviceFilter::All,
        }
    }

    /// node_exporter 1.12's families on the fixture tree, apart from the statfs numbers
    /// (those of the disk holding the checkout, checked below). 1.5 gave the same series
    /// without `device_error` labels, no `readonly` for /srv/broken and no `mount_info`.
    const FIXTURE_EXPECTED: &str = r#"# HELP node_filesystem_device_error Whether an error occurred while getting statistics for the given device.
# TYPE node_filesystem_device_error gauge
node_filesystem_device_error{device="/dev/mapper/vg0-data",device_error="",fstype="xfs",mountpoint="/data"} 0
node_filesystem_device_error{device="/dev/nvme0n1p1",device_error="",fstype="vfat",mountpoint="/boot"} 0
node_filesystem_device_error{device="/dev/nvme0n1p2",device_error="",fstype="ext4",mountpoint="/"} 0
node_filesystem_device_error{device="/dev/sda1",device_error="",fstype="ext4",mountpoint="/mnt/my disk"} 0
node_filesystem_device_error{device="10.0.0.9:/export",device_error="no such file or directory",fstype="nfs4",mountpoint="/srv/broken"} 1
node_filesystem_device_error{device="tmpfs",device_error="",fstype="tmpfs",mountpoint="/run"} 0
# HELP node_filesystem_mount_info Filesystem mount information.
# TYPE node_filesystem_mount_info gauge
node_filesystem_mount_info{device="/dev/mapper/vg0-data",major="254",minor="0",mountpoint="/data"} 1
node_filesystem_mount_info{device="/dev/nvme0n1p1",major="259",minor="1",mountpoint="/boot"} 1
node_filesystem_mount_info{device="/dev/nvme0n1p2",major="259",minor="2",mountpoint="/"} 1
node_filesystem_mount_info{device="/dev/sda1",major="8",minor="1",mountpoint="/mnt/my disk"} 1
node_filesystem_mount_info{device="tmpfs",major="0",minor="27",mountpoint="/run"} 1
# HELP node_filesystem_readonly Filesystem read-only status.
# TYPE node_filesystem_readonly gauge
node_filesystem_readonly{device="/dev/mapper/vg0-data",device_error="",fstype="xfs",mountpoint="/data"} 1
node_filesystem_readonly{device="/dev/nvme0n1p1",device_error="",fstype="vfat",mountpoint="/boot"} 0
node_filesystem_readonly{device="/dev/nvme0n1p2",device_error="",fstype="ext4",mountpoint="/"} 0
node_filesystem_readonly{device="/dev/sda1",device_error="",fstype="ext4",mountpoint="/mnt/my disk"} 0
node_filesystem_readonly{device="10.0.0.9:/export",device_error="no such file or directory",fstype="nfs4",mountpoint="/srv/broken"} 0
node_filesystem_readonly{device="tmpfs",device_error="",fstype="tmpfs",mountpoint="/run"} 0
"#;

    #[test]
    fn matches_node_exporter_1_12_on_the_fixture_tree() {
        let paths = fixture_paths();
        let runner = StatFsRunner::new(Arc::new(SystemStatFs), Duration::from_secs(5));
        let set = scrape(&mut Filesystem::new(&paths, default_filter(), runner));
        let from_mount_table = |name: &str| {
            name.ends_with("device_error")
                || name.ends_with("readonly")
                || name.ends_with("mount_info")
        };
        assert_eq!(
            rendered(&set, from_mount_table),
            parse_text(FIXTURE_EXPECTED)
        );
        let real = SystemStatFs.statfs(&paths.rootfs).unwrap();
        let my_disk = labels("/dev/sda1", "ext4", "/mnt/my disk");
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &my_disk),
            Some(real.size_bytes)
        );
        assert_eq!(
            value(&set, "node_filesystem_files", &my_disk),
            Some(real.files)
        );
        // The usage families: the five working mounts, each with its HELP.
        for (name, help, _) in USAGE_FAMILIES {
            let lines = rendered(&set, |n| n == name);
            assert_eq!(lines[0], Line::Help(name.into(), help.into()));
            assert_eq!(lines.len(), 2 + 5, "{name}");
        }
    }

    #[test]
    fn a_hanging_mount_on_the_fixture_tree() {
        /// Hangs on `/data` (whose rootfs path ends in `data`, not `hang`): wrap the fake.
        struct HangOnData(Arc<FakeStatFs>);
        impl StatFs for HangOnData {
            fn statfs(&self, path: &Path) -> std::io::Result<FsUsage> {
                let path = if path.ends_with("data") {
                    Path::new("/hang")
                } else {
                    path
                };
                self.0.statfs(path)
            }
        }
        let fake = Arc::new(FakeStatFs::default());
        let runner = StatFsRunner::new(
            Arc::new(HangOnData(fake.clone())),
            Duration::from_millis(100),
        );
        let mut fs = Filesystem::new(&fixture_paths(), default_filter(), runner);
        let set = scrape(&mut fs);
        let data = broken("/dev/mapper/vg0-data", "xfs", "/data", "mountpoint timeout");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &data),
            Some(1.0)
        );
        // Stuck: node_exporter reports readonly 0 without looking at the options.
        assert_eq!(value(&set, "node_filesystem_readonly", &data), Some(0.0));
        let root = labels("/dev/nvme0n1p2", "ext4", "/");
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &root),
            Some(FAKE_USAGE.size_bytes)
        );
        fake.release();
        wait_until("/data to answer", || fs.runner.stuck_count() == 0);
        let set = scrape(&mut fs);
        let data = labels("/dev/mapper/vg0-data", "xfs", "/data");
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &data),
            Some(FAKE_USAGE.size_bytes)
        );
    }

    #[test]
    fn no_mount_table_fails_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let runner = StatFsRunner::new(Arc::new(SystemStatFs), Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, all(), runner);
        let err = fs
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().contains("self/mountinfo"), "{err}");
    }
}
