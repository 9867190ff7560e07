//! The one place that turns `/proc/...`, `/sys/...` and rootfs paths into real paths,
//! applying `--path.procfs`, `--path.sysfs`, `--path.rootfs` and `--path.udev.data`, so
//! every collector can run on a fixture tree or on a host mounted into a container.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    pub udev_data: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

impl Paths {
    /// A tree rooted at `root` with `proc/`, `sys/`, `rootfs/` and `udev/data/` below it:
    /// the layout of our test fixtures.
    pub fn under(root: &Path) -> Self {
        Paths {
            procfs: root.join("proc"),
            sysfs: root.join("sys"),
            rootfs: root.join("rootfs"),
            udev_data: root.join("udev/data"),
        }
    }

    pub fn proc(&self, relative: &str) -> PathBuf {
        self.procfs.join(relative)
    }

    pub fn sys(&self, relative: &str) -> PathBuf {
        self.sysfs.join(relative)
    }

    /// A host path such as a mount point or `/etc/os-release`, seen through rootfs.
    pub fn rootfs_path(&self, host_path: &str) -> PathBuf {
        self.rootfs.join(host_path.trim_start_matches('/'))
    }

    /// Removes the rootfs prefix from a mount point read from the host's mount table,
    /// as node_exporter does, so labels name the host's path.
    pub fn strip_rootfs<'a>(&self, mount_point: &'a str) -> &'a str {
        let prefix = self.rootfs.to_str().unwrap_or("/").trim_end_matches('/');
        if prefix.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(prefix) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_rootfs_prefix_only_on_a_path_boundary() {
        let paths = Paths {
            rootfs: PathBuf::from("/host/"),
            ..Paths::default()
        };
        assert_eq!(paths.strip_rootfs("/host"), "/");
        assert_eq!(paths.strip_rootfs("/host/boot"), "/boot");
        assert_eq!(paths.strip_rootfs("/hostile"), "/hostile");
        assert_eq!(Paths::default().strip_rootfs("/boot"), "/boot");
        assert_eq!(
            paths.rootfs_path("/etc/os-release"),
            PathBuf::from("/host/etc/os-release")
        );
    }
}
