//! `node_filesystem_*`: size, free and available bytes, inodes, read-only status and
//! `device_error` of every mounted filesystem that the exclude flags let through.
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

use crate::collector::{BuildContext, Collector, CollectorSpec};
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
const FS_TYPES_EXCLUDE_FLAG: &str = "collector.filesystem.fs-types-exclude";
const MOUNT_TIMEOUT_FLAG: &str = "collector.filesystem.mount-timeout";
/// node_exporter's hidden, deprecated names of the two exclude flags, still accepted.
const OLD_MOUNT_POINTS_FLAG: &str = "collector.filesystem.ignored-mount-points";
const OLD_FS_TYPES_FLAG: &str = "collector.filesystem.ignored-fs-types";

/// Upstream node_exporter 1.5's defaults (Debian's build patches the first one).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
const DEFAULT_MOUNT_TIMEOUT: &str = "5s";

fn args() -> Vec<Arg> {
    vec![
        Arg::new(MOUNT_POINTS_EXCLUDE_FLAG)
            .long(MOUNT_POINTS_EXCLUDE_FLAG)
            .default_value(DEFAULT_MOUNT_POINTS_EXCLUDE)
            .help("Regexp of mount points to exclude for filesystem collector."),
        Arg::new(FS_TYPES_EXCLUDE_FLAG)
            .long(FS_TYPES_EXCLUDE_FLAG)
            .default_value(DEFAULT_FS_TYPES_EXCLUDE)
            .help("Regexp of filesystem types to exclude for filesystem collector."),
        // Hidden in node_exporter 1.5 too.
        Arg::new(MOUNT_TIMEOUT_FLAG)
            .long(MOUNT_TIMEOUT_FLAG)
            .default_value(DEFAULT_MOUNT_TIMEOUT)
            .help("how long to wait for a mount to respond before marking it as stale"),
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

/// An exclude flag, or its deprecated name when that is given instead (as node_exporter:
/// giving both is an error).
fn exclude_regex(
    ctx: &BuildContext,
    flag: &str,
    old_flag: &str,
) -> Result<Option<Regex>, ConfigError> {
    if ctx.string(old_flag).is_none() {
        return ctx.regex(flag);
    }
    if ctx.matches.value_source(flag) == Some(ValueSource::CommandLine) {
        return Err(ConfigError::new(
            format!("--{old_flag}"),
            format!("cannot be combined with --{flag}"),
        ));
    }
    tracing::warn!("--{old_flag} is DEPRECATED and will be removed in 2.0.0, use --{flag}");
    ctx.regex(old_flag)
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
        let has_ro = |options: &str| options.split(',').any(|o| o == "ro");
        mounts.push(Mount {
            device: (*device).to_string(),
            mount_point: unescape_octal(fields[4]),
            fs_type: (*fs_type).to_string(),
            read_only: has_ro(fields[5]) || has_ro(super_options),
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

/// Which mounts are reported: node_exporter's two exclude patterns.
#[derive(Debug, Clone, Default)]
pub struct MountFilter {
    pub mount_points_exclude: Option<Regex>,
    pub fs_types_exclude: Option<Regex>,
}

impl MountFilter {
    pub fn accepts(&self, mount_point: &str, fs_type: &str) -> bool {
        let excluded = |re: &Option<Regex>, text| re.as_ref().is_some_and(|re| re.is_match(text));
        !excluded(&self.mount_points_exclude, mount_point)
            && !excluded(&self.fs_types_exclude, fs_type)
    }
}

/// One reported filesystem: its labels and what statfs said.
#[derive(Debug, Clone, PartialEq)]
struct FilesystemStats {
    device: String,
    fs_type: String,
    mount_point: String,
    read_only: bool,
    /// None when statfs failed or the mount point is stuck.
    usage: Option<FsUsage>,
}

pub struct Filesystem {
    paths: Paths,
    filter: MountFilter,
    runner: StatFsRunner,
}

impl Filesystem {
    pub fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let filter = MountFilter {
            mount_points_exclude: exclude_regex(
                ctx,
                MOUNT_POINTS_EXCLUDE_FLAG,
                OLD_MOUNT_POINTS_FLAG,
            )?,
            fs_types_exclude: exclude_regex(ctx, FS_TYPES_EXCLUDE_FLAG, OLD_FS_TYPES_FLAG)?,
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
                Outcome::Done(Ok(usage)) => Some(usage),
                Outcome::Done(Err(error)) => {
                    tracing::debug!(path = %path.display(), %error, "statfs failed");
                    None
                }
                Outcome::Stuck => None,
            };
            stats.push(FilesystemStats {
                device: mount.device,
                fs_type: mount.fs_type,
                mount_point,
                read_only: mount.read_only,
                usage,
            });
        }
        // node_exporter's samples are sorted by label values: device, fstype, mountpoint.
        stats.sort_by(|a, b| {
            (&a.device, &a.fs_type, &a.mount_point).cmp(&(&b.device, &b.fs_type, &b.mount_point))
        });
        Ok(stats)
    }
}

type UsageField = fn(&FilesystemStats) -> Option<f64>;

/// The families node_exporter emits only for a filesystem statfs answered.
const USAGE_FAMILIES: [(&str, &str, UsageField); 6] = [
    (
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        |s| s.usage.map(|u| u.size_bytes),
    ),
    (
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
        |s| s.usage.map(|u| u.free_bytes),
    ),
    (
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        |s| s.usage.map(|u| u.avail_bytes),
    ),
    (
        "node_filesystem_files",
        "Filesystem total file nodes.",
        |s| s.usage.map(|u| u.files),
    ),
    (
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
        |s| s.usage.map(|u| u.files_free),
    ),
    (
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        |s| s.usage.map(|_| if s.read_only { 1.0 } else { 0.0 }),
    ),
];

fn fs_labels(s: &FilesystemStats) -> [(&'static str, &str); 3] {
    [
        ("device", s.device.as_str()),
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
        family.push(&fs_labels(s), if s.usage.is_some() { 0.0 } else { 1.0 });
    }
    for (name, help, field) in USAGE_FAMILIES {
        for s in stats {
            if let Some(value) = field(s) {
                out.family(name, help, MetricKind::Gauge)
                    .push(&fs_labels(s), value);
            }
        }
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
        };
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
    fn flags_default_to_upstream_1_5() {
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
        for excluded in ["cgroup2", "overlay", "squashfs", "nsfs", "tracefs"] {
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

    fn labels(device: &str, fs_type: &str, mount_point: &str) -> [(&'static str, String); 3] {
        [
            ("device", device.to_string()),
            ("fstype", fs_type.to_string()),
            ("mountpoint", mount_point.to_string()),
        ]
    }

    fn value(set: &MetricSet, name: &str, l: &[(&'static str, String); 3]) -> Option<f64> {
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
        let filter = MountFilter {
            mount_points_exclude: Regex::new(DEFAULT_MOUNT_POINTS_EXCLUDE).ok(),
            fs_types_exclude: Regex::new(DEFAULT_FS_TYPES_EXCLUDE).ok(),
        };
        let runner = StatFsRunner::new(fake.clone(), Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, filter, runner);
        let set = scrape(&mut fs);

        let errors = &set.get("node_filesystem_device_error").unwrap().samples();
        let listed: Vec<_> = errors
            .iter()
            .map(|s| (s.labels[0].1.as_str(), s.labels[2].1.as_str(), s.value))
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
        // statfs went through rootfs.
        assert_eq!(fake.calls(&paths.rootfs.join("boot/efi")), 1);
        assert_eq!(fake.calls(&paths.rootfs.join("data")), 1);
    }

    #[test]
    fn a_failing_statfs_gives_only_device_error() {
        let (_dir, paths) = tree(
            "29 1 259:2 / / rw - ext4 /dev/sda1 rw\n40 29 0:50 / /mnt/error rw - cifs //srv/x rw\n",
        );
        let fake = Arc::new(FakeStatFs::default());
        let runner = StatFsRunner::new(fake, Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, MountFilter::default(), runner);
        let set = scrape(&mut fs);
        let bad = labels("//srv/x", "cifs", "/mnt/error");
        assert_eq!(value(&set, "node_filesystem_device_error", &bad), Some(1.0));
        for (name, _, _) in USAGE_FAMILIES {
            assert_eq!(value(&set, name, &bad), None, "{name}");
            assert!(value(&set, name, &labels("/dev/sda1", "ext4", "/")).is_some());
        }
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
        let mut fs = Filesystem::new(&paths, MountFilter::default(), runner);
        let hang = labels("srv:/x", "nfs4", "/mnt/hang");
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
        let mut fs = Filesystem::new(
            &paths,
            MountFilter::default(),
            StatFsRunner::new(fake.clone(), timeout),
        );
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
                    &labels(device, "nfs4", mount_point)
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
        let mut fs = Filesystem::new(&paths, MountFilter::default(), runner);
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
        let gone = labels("/dev/sda3", "ext4", "/gone");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &gone),
            Some(1.0)
        );
    }

    use crate::test_support::{fixture_paths, reference, rendered, Line};

    fn default_filter() -> MountFilter {
        MountFilter {
            mount_points_exclude: Regex::new(DEFAULT_MOUNT_POINTS_EXCLUDE).ok(),
            fs_types_exclude: Regex::new(DEFAULT_FS_TYPES_EXCLUDE).ok(),
        }
    }

    #[test]
    fn matches_node_exporter_on_the_fixture_tree() {
        let paths = fixture_paths();
        let runner = StatFsRunner::new(Arc::new(SystemStatFs), Duration::from_secs(5));
        let set = scrape(&mut Filesystem::new(&paths, default_filter(), runner));
        // statfs numbers are those of the disk holding the checkout: compare the lines
        // and the values that come from the mount table; sizes are checked below.
        let from_mount_table = |line: Line| match line {
            Line::Sample(name, labels, value) => {
                let keep = name.ends_with("device_error") || name.ends_with("readonly");
                Line::Sample(name, labels, if keep { value } else { 0.0 })
            }
            other => other,
        };
        let filesystem = |name: &str| name.starts_with("node_filesystem_");
        let ours: Vec<Line> = rendered(&set, filesystem)
            .into_iter()
            .map(from_mount_table)
            .collect();
        let theirs: Vec<Line> = reference(filesystem)
            .into_iter()
            .map(from_mount_table)
            .collect();
        assert_eq!(ours, theirs);
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
        let broken = labels("10.0.0.9:/export", "nfs4", "/srv/broken");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &broken),
            Some(1.0)
        );
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
        let data = labels("/dev/mapper/vg0-data", "xfs", "/data");
        assert_eq!(
            value(&set, "node_filesystem_device_error", &data),
            Some(1.0)
        );
        assert_eq!(value(&set, "node_filesystem_readonly", &data), None);
        let root = labels("/dev/nvme0n1p2", "ext4", "/");
        assert_eq!(
            value(&set, "node_filesystem_size_bytes", &root),
            Some(FAKE_USAGE.size_bytes)
        );
        fake.release();
        wait_until("/data to answer", || fs.runner.stuck_count() == 0);
        let set = scrape(&mut fs);
        assert_eq!(value(&set, "node_filesystem_readonly", &data), Some(1.0));
    }

    #[test]
    fn no_mount_table_fails_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let runner = StatFsRunner::new(Arc::new(SystemStatFs), Duration::from_secs(5));
        let mut fs = Filesystem::new(&paths, MountFilter::default(), runner);
        let err = fs
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().contains("self/mountinfo"), "{err}");
    }
}
