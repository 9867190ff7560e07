//! `node_selinux_enabled`, `node_selinux_config_mode` and `node_selinux_current_mode`,
//! worked out from files as node_exporter 1.12's selinux collector gets them from
//! go-selinux (`GetEnabled`, `DefaultEnforceMode`, `EnforceMode`):
//!
//! - SELinux is enabled when a selinuxfs is mounted read-write — at `<sysfs>/fs/selinux`,
//!   or, if `<procfs>/filesystems` lists `selinuxfs`, at a mount point found in
//!   `<procfs>/self/mountinfo` — and this process's context
//!   (`<procfs>/thread-self/attr/current`) is not `kernel` (no policy loaded). Like
//!   go-selinux, this is worked out once, at the first scrape, and kept.
//! - When it is not, only `node_selinux_enabled 0` is reported.
//! - `current_mode` is the selinuxfs `enforce` file as a decimal (1 enforcing, 0
//!   permissive), read every scrape; unreadable or not a number (go-selinux does not
//!   trim it) is -1.
//! - `config_mode` is `SELINUX=` of `<rootfs>/etc/selinux/config`: `enforcing` 1,
//!   `permissive` 0, anything else or no file -1.
//!
//! go-selinux reads the absolute paths `/sys/fs/selinux`, `/proc/...` and
//! `/etc/selinux/config` whatever `--path.*` say; here they go through `--path.sysfs`,
//! `--path.procfs` and `--path.rootfs`, which name the same files with the defaults and
//! the host's files when the exporter runs in a container with the host mounted.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::MAX_TABLE_BYTES;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "selinux",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Selinux::new(ctx.paths))),
};

/// selinuxfs's `f_type` (`SELINUX_MAGIC` in the kernel's `magic.h`).
const SELINUX_MAGIC: u32 = 0xf97c_ff8c;

/// Whether `path` is a read-write selinuxfs mount: go-selinux's `verifySELinuxfsMount`.
fn is_selinuxfs_mount(path: &Path) -> bool {
    loop {
        match nix::sys::statfs::statfs(path) {
            Ok(stat) => {
                let read_only = nix::sys::statvfs::statvfs(path)
                    .map(|vfs| vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
                    .unwrap_or(true);
                // Compared as 32 bits, as go-selinux compares it.
                return stat.filesystem_type().0 as u32 == SELINUX_MAGIC && !read_only;
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

pub struct Selinux {
    default_mount: PathBuf,
    filesystems: PathBuf,
    mountinfo: PathBuf,
    current_context: PathBuf,
    config: PathBuf,
    /// Whether a path is a usable selinuxfs; a field so tests can stand in for statfs.
    verify_mount: fn(&Path) -> bool,
    /// The selinuxfs mount point when SELinux is enabled, once worked out.
    enabled: Option<Option<PathBuf>>,
}

/// Reads a small file whole, as bytes; `None` when it cannot be read.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_TABLE_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// go-selinux's `readConfig(target)`: the value of the first `target=` line, quotes
/// trimmed; lines are trimmed, blank ones and `#` or `;` comments skipped.
pub fn config_value<'a>(text: &'a str, target: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';']))
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| *key == target)
        .map(|(_, value)| value.trim_matches('"'))
}

/// go-selinux's `DefaultEnforceMode` from the config file's text.
pub fn config_mode(config: Option<&str>) -> f64 {
    match config.and_then(|text| config_value(text, "SELINUX")) {
        Some("enforcing") => 1.0,
        Some("permissive") => 0.0,
        _ => -1.0,
    }
}

/// go-selinux's `EnforceMode` from the `enforce` file's bytes: `strconv.Atoi` of the
/// untrimmed text, -1 when it fails.
pub fn current_mode(enforce: Option<&[u8]>) -> f64 {
    enforce
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .filter(|text| {
            let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
        .and_then(|text| text.parse::<i64>().ok())
        .map_or(-1.0, |mode| mode as f64)
}

/// The mount points of selinuxfs in mountinfo text, in order (the fifth field of
/// each line whose filesystem type, after ` - `, is `selinuxfs`).
pub fn selinuxfs_mounts(mountinfo: &str) -> impl Iterator<Item = &str> {
    mountinfo
        .lines()
        .filter(|line| line.contains(" - selinuxfs "))
        .filter_map(|line| line.split(' ').nth(4))
}

impl Selinux {
    pub fn new(paths: &Paths) -> Self {
        Selinux {
            default_mount: paths.sys("fs/selinux"),
            filesystems: paths.proc("filesystems"),
            mountinfo: paths.proc("self/mountinfo"),
            current_context: paths.proc("thread-self/attr/current"),
            config: paths.rootfs_path("/etc/selinux/config"),
            verify_mount: is_selinuxfs_mount,
            enabled: None,
        }
    }

    /// go-selinux's `findSELinuxfs`: the default mount, else a mount from mountinfo.
    fn find_selinuxfs(&self) -> Option<PathBuf> {
        if (self.verify_mount)(&self.default_mount) {
            return Some(self.default_mount.clone());
        }
        let filesystems = read_small(&self.filesystems)?;
        if !filesystems
            .windows(b"\tselinuxfs\n".len())
            .any(|w| w == b"\tselinuxfs\n")
        {
            return None;
        }
        let mountinfo = String::from_utf8(read_small(&self.mountinfo)?).ok()?;
        let found = selinuxfs_mounts(&mountinfo)
            .map(PathBuf::from)
            .find(|mount| (self.verify_mount)(mount));
        found
    }

    /// The selinuxfs mount point if SELinux is enabled, worked out once.
    fn enabled_mount(&mut self) -> Option<&Path> {
        if self.enabled.is_none() {
            let mount = self.find_selinuxfs().filter(|_| {
                let context = read_small(&self.current_context).unwrap_or_default();
                context.strip_suffix(b"\0").unwrap_or(&context) != b"kernel"
            });
            self.enabled = Some(mount);
        }
        self.enabled.as_ref().and_then(|mount| mount.as_deref())
    }
}

impl Collector for Selinux {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(mount) = self.enabled_mount().map(Path::to_path_buf) else {
            out.gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                &[],
                0.0,
            );
            return Ok(());
        };
        out.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            &[],
            1.0,
        );
        let config = read_small(&self.config).and_then(|bytes| String::from_utf8(bytes).ok());
        out.gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            &[],
            config_mode(config.as_deref()),
        );
        let enforce = read_small(&mount.join("enforce"));
        out.gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            &[],
            current_mode(enforce.as_deref()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    fn scrape(collector: &mut Selinux) -> MetricSet {
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    fn is_selinux(name: &str) -> bool {
        name.starts_with("node_selinux_")
    }

    #[test]
    fn the_fixture_is_not_a_selinuxfs_so_selinux_is_disabled() {
        let set = scrape(&mut Selinux::new(&fixture_paths()));
        let expected = parse_text(
            "# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false
# TYPE node_selinux_enabled gauge
node_selinux_enabled 0
",
        );
        assert_eq!(rendered(&set, is_selinux), expected);
    }

    #[test]
    fn with_selinuxfs_mounted_the_modes_come_from_enforce_and_config() {
        let mut collector = Selinux::new(&fixture_paths());
        collector.verify_mount = |path| path.ends_with("fs/selinux");
        let set = scrape(&mut collector);
        let expected = parse_text(
            "# HELP node_selinux_config_mode Configured SELinux enforcement mode
# TYPE node_selinux_config_mode gauge
node_selinux_config_mode 0
# HELP node_selinux_current_mode Current SELinux enforcement mode
# TYPE node_selinux_current_mode gauge
node_selinux_current_mode 1
# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false
# TYPE node_selinux_enabled gauge
node_selinux_enabled 1
",
        );
        assert_eq!(rendered(&set, is_selinux), expected);
    }

    #[test]
    fn a_kernel_context_means_no_policy_and_the_answer_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        std::fs::create_dir_all(root.path().join("proc/thread-self/attr")).unwrap();
        std::fs::write(
            root.path().join("proc/thread-self/attr/current"),
            "kernel\0",
        )
        .unwrap();
        let mut collector = Selinux::new(&paths);
        collector.verify_mount = |_| true;
        assert_eq!(
            scrape(&mut collector).value("node_selinux_enabled", &[]),
            Some(0.0)
        );
        std::fs::write(
            root.path().join("proc/thread-self/attr/current"),
            "system_u:system_r:node_exporter_t:s0\0",
        )
        .unwrap();
        assert_eq!(
            scrape(&mut collector).value("node_selinux_enabled", &[]),
            Some(0.0),
            "worked out once, as go-selinux does"
        );
        let mut fresh = Selinux::new(&paths);
        fresh.verify_mount = |_| true;
        let set = scrape(&mut fresh);
        assert_eq!(set.value("node_selinux_enabled", &[]), Some(1.0));
        assert_eq!(set.value("node_selinux_config_mode", &[]), Some(-1.0));
        assert_eq!(set.value("node_selinux_current_mode", &[]), Some(-1.0));
    }

    #[test]
    fn another_mount_point_is_found_through_mountinfo() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        std::fs::create_dir_all(root.path().join("proc/self")).unwrap();
        std::fs::write(
            root.path().join("proc/filesystems"),
            "nodev\tsysfs\nnodev\tselinuxfs\n",
        )
        .unwrap();
        let selinux = root.path().join("selinux");
        std::fs::create_dir_all(&selinux).unwrap();
        std::fs::write(selinux.join("enforce"), "0").unwrap();
        std::fs::write(
            root.path().join("proc/self/mountinfo"),
            format!(
                "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                 30 22 0:26 / {} rw,relatime - selinuxfs selinuxfs rw\n",
                selinux.display()
            ),
        )
        .unwrap();
        let mut collector = Selinux::new(&paths);
        collector.verify_mount = |path| path.ends_with("selinux") && !path.ends_with("fs/selinux");
        let set = scrape(&mut collector);
        assert_eq!(set.value("node_selinux_current_mode", &[]), Some(0.0));
    }

    #[test]
    fn modes_parse_as_go_selinux_parses_them() {
        let config = "# comment\n; other\n\n SELINUX=\"enforcing\" \nSELINUXTYPE=targeted\n";
        assert_eq!(config_mode(Some(config)), 1.0);
        assert_eq!(config_mode(Some("SELINUX=permissive\n")), 0.0);
        assert_eq!(config_mode(Some("SELINUX=disabled\n")), -1.0);
        assert_eq!(config_mode(Some("SELINUXTYPE=mls\n")), -1.0);
        assert_eq!(config_mode(None), -1.0);
        assert_eq!(current_mode(Some(b"1")), 1.0);
        assert_eq!(current_mode(Some(b"0")), 0.0);
        assert_eq!(current_mode(Some(b"1\n")), -1.0, "not trimmed");
        assert_eq!(current_mode(None), -1.0);
        let mounts: Vec<&str> = selinuxfs_mounts(
            "30 22 0:26 / /sys/fs/selinux rw - selinuxfs selinuxfs rw\n40 1 0:5 / /x rw - tmpfs t rw\n",
        )
        .collect();
        assert_eq!(mounts, ["/sys/fs/selinux"]);
    }

    #[test]
    fn this_host_scrapes() {
        let set = scrape(&mut Selinux::new(&Paths::default()));
        assert!(set.value("node_selinux_enabled", &[]).is_some());
    }
}
