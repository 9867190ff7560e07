//! `node_dmmultipath_*` (new in node_exporter 1.12) from `<sysfs>/block/dm-*`: the
//! device-mapper devices whose `dm/uuid` starts with `mpath-`, with `dm/name`,
//! `dm/suspended`, `size` (512-byte sectors) and, for each entry of `slaves/`, the path
//! device's `<sysfs>/block/<path>/device/state`, as 1.12 reads them (procfs
//! `blockdevice.DMMultipathDevices`).
//!
//! A path is active when its state is `running` (SCSI) or `live` (NVMe); any other
//! state, including one never seen before, counts as failed, and
//! `node_dmmultipath_path_state` carries the raw state as a label with value 1. A
//! `dm-*` without `dm/uuid` is not a device-mapper device and is skipped. A file of a
//! multipath device that is missing or not readable (or no readable `block/`) is
//! ErrNoData, as node_exporter matches the wrapped error; a value that does not parse
//! fails the collector, naming the file. No multipath device is success with nothing.

use std::io;
use std::path::{Path, PathBuf};

use super::sysfs_dir::sorted_names;
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "dmmultipath",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(DmMultipath::new(ctx.paths))),
};

const SECTOR_SIZE: u64 = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct MultipathPath {
    pub device: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MultipathDevice {
    /// `dm/name`, e.g. `mpatha`.
    pub name: String,
    /// The kernel's name, e.g. `dm-1`.
    pub sysfs_name: String,
    pub uuid: String,
    pub suspended: bool,
    pub size_bytes: u64,
    pub paths: Vec<MultipathPath>,
}

fn is_path_active(state: &str) -> bool {
    state == "running" || state == "live"
}

fn read_text(path: &Path) -> Result<String, CollectError> {
    read_attribute(path).map_err(|e| CollectError::read(path, e))
}

fn read_number(path: &Path) -> Result<u64, CollectError> {
    let text = read_text(path)?;
    text.parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not an unsigned integer: {text:?}")))
}

pub struct DmMultipath {
    block: PathBuf,
}

impl DmMultipath {
    pub fn new(paths: &Paths) -> Self {
        DmMultipath {
            block: paths.sys("block"),
        }
    }

    /// Every multipath device, sorted by kernel name.
    pub fn devices(&self) -> Result<Vec<MultipathDevice>, CollectError> {
        let names = match sorted_names(&self.block) {
            Ok(names) => names,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: {e}",
                    self.block.display()
                )));
            }
            Err(e) => return Err(CollectError::read(&self.block, e)),
        };
        let mut devices = Vec::new();
        for sysfs_name in names.into_iter().filter(|n| n.starts_with("dm-")) {
            let dir = self.block.join(&sysfs_name);
            let uuid_path = dir.join("dm/uuid");
            let uuid = match read_attribute(&uuid_path) {
                Ok(uuid) => uuid,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::read(&uuid_path, e)),
            };
            if !uuid.starts_with("mpath-") {
                continue;
            }
            let name = read_text(&dir.join("dm/name"))?;
            let suspended = read_number(&dir.join("dm/suspended"))? == 1;
            let size_bytes = read_number(&dir.join("size"))?.wrapping_mul(SECTOR_SIZE);
            let slaves = dir.join("slaves");
            let slave_names = match sorted_names(&slaves) {
                Ok(names) => names,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(CollectError::read(&slaves, e)),
            };
            let mut paths = Vec::with_capacity(slave_names.len());
            for device in slave_names {
                let state = read_text(&self.block.join(&device).join("device/state"))?;
                paths.push(MultipathPath { device, state });
            }
            devices.push(MultipathDevice {
                name,
                sysfs_name,
                uuid,
                suspended,
                size_bytes,
                paths,
            });
        }
        Ok(devices)
    }
}

/// Appends the families of `devices` in node_exporter's sample order.
pub fn record(devices: &[MultipathDevice], out: &mut MetricSet) {
    use MetricKind::Gauge;
    for dev in devices {
        let labels = [
            ("device", dev.name.as_str()),
            ("sysfs_name", dev.sysfs_name.as_str()),
        ];
        out.family(
            "node_dmmultipath_device_info",
            "Non-numeric information about a DM-multipath device.",
            Gauge,
        )
        .push(&[labels[0], labels[1], ("uuid", dev.uuid.as_str())], 1.0);
        out.family(
            "node_dmmultipath_device_active",
            "Whether the multipath device-mapper device is active (1) or suspended (0).",
            Gauge,
        )
        .push(&labels, if dev.suspended { 0.0 } else { 1.0 });
        out.family(
            "node_dmmultipath_device_size_bytes",
            "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
            Gauge,
        )
        .push(&labels, dev.size_bytes as f64);
        let active = dev
            .paths
            .iter()
            .filter(|p| is_path_active(&p.state))
            .count();
        for path in &dev.paths {
            out.family(
                "node_dmmultipath_path_state",
                "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
                Gauge,
            )
            .push(&[("device", dev.name.as_str()), ("path", path.device.as_str()), ("state", path.state.as_str())], 1.0);
        }
        out.family(
            "node_dmmultipath_device_paths",
            "Number of paths for a multipath device.",
            Gauge,
        )
        .push(&labels, dev.paths.len() as f64);
        out.family(
            "node_dmmultipath_device_paths_active",
            "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
            Gauge,
        )
        .push(&labels, active as f64);
        out.family(
            "node_dmmultipath_device_paths_failed",
            "Number of paths not in active state for a multipath device.",
            Gauge,
        )
        .push(&labels, (dev.paths.len() - active) as f64);
    }
    out.sort_series();
}

impl Collector for DmMultipath {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        // node_exporter tests the wrapped error: a file that is missing or not readable
        // anywhere in the walk is ErrNoData, not a failure.
        let devices = match self.devices() {
            Err(CollectError::Read { path, source })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: {source}",
                    path.display()
                )));
            }
            other => other?,
        };
        record(&devices, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        DmMultipath::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_fixture_gives_mpatha_and_skips_the_lvm_volume() {
        let set = scrape(&fixture_paths()).unwrap();
        let text = rendered(&set, |name| name.starts_with("node_dmmultipath_"));
        let sample = |name: &str, labels: &[(&str, &str)], value: f64| {
            Line::Sample(
                name.to_string(),
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value,
            )
        };
        let dev = [("device", "mpatha"), ("sysfs_name", "dm-1")];
        let help = |name: &str, help: &str| {
            vec![
                Line::Help(name.into(), help.into()),
                Line::Type(name.into(), "gauge".into()),
            ]
        };
        let mut expected = Vec::new();
        expected.extend(help(
            "node_dmmultipath_device_active",
            "Whether the multipath device-mapper device is active (1) or suspended (0).",
        ));
        expected.push(sample("node_dmmultipath_device_active", &dev, 1.0));
        expected.extend(help(
            "node_dmmultipath_device_info",
            "Non-numeric information about a DM-multipath device.",
        ));
        expected.push(sample(
            "node_dmmultipath_device_info",
            &[
                ("device", "mpatha"),
                ("sysfs_name", "dm-1"),
                ("uuid", "mpath-36001405a1b2c3d4e5f60718293a4b5c6"),
            ],
            1.0,
        ));
        expected.extend(help(
            "node_dmmultipath_device_paths",
            "Number of paths for a multipath device.",
        ));
        expected.push(sample("node_dmmultipath_device_paths", &dev, 2.0));
        expected.extend(help(
            "node_dmmultipath_device_paths_active",
            "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
        ));
        expected.push(sample("node_dmmultipath_device_paths_active", &dev, 1.0));
        expected.extend(help(
            "node_dmmultipath_device_paths_failed",
            "Number of paths not in active state for a multipath device.",
        ));
        expected.push(sample("node_dmmultipath_device_paths_failed", &dev, 1.0));
        expected.extend(help(
            "node_dmmultipath_device_size_bytes",
            "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
        ));
        expected.push(sample(
            "node_dmmultipath_device_size_bytes",
            &dev,
            209715200.0 * 512.0,
        ));
        expected.extend(help(
            "node_dmmultipath_path_state",
            "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
        ));
        expected.push(sample(
            "node_dmmultipath_path_state",
            &[("device", "mpatha"), ("path", "sdb"), ("state", "running")],
            1.0,
        ));
        expected.push(sample(
            "node_dmmultipath_path_state",
            &[("device", "mpatha"), ("path", "sdc"), ("state", "offline")],
            1.0,
        ));
        assert_eq!(text, expected);
    }

    #[test]
    fn no_block_directory_is_no_data_and_a_missing_state_fails() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        let dm = paths.sys("block/dm-3");
        std::fs::create_dir_all(dm.join("dm")).unwrap();
        std::fs::create_dir_all(dm.join("slaves/sdz")).unwrap();
        std::fs::write(dm.join("dm/uuid"), "mpath-x\n").unwrap();
        std::fs::write(dm.join("dm/name"), "mpathz\n").unwrap();
        std::fs::write(dm.join("dm/suspended"), "1\n").unwrap();
        std::fs::write(dm.join("size"), "8\n").unwrap();
        let err = scrape(&paths).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        assert!(err.to_string().contains("block/sdz/device/state"), "{err}");
        std::fs::create_dir_all(paths.sys("block/sdz/device")).unwrap();
        std::fs::write(paths.sys("block/sdz/device/state"), "live\n").unwrap();
        let set = scrape(&paths).unwrap();
        let labels = [("device", "mpathz")];
        assert_eq!(
            set.value("node_dmmultipath_device_active", &labels),
            Some(0.0)
        );
        assert_eq!(
            set.value("node_dmmultipath_device_paths_active", &labels),
            Some(1.0)
        );
        assert_eq!(
            set.value("node_dmmultipath_device_size_bytes", &labels),
            Some(4096.0)
        );
        assert!(is_path_active("running") && !is_path_active("transport-offline"));
        std::fs::write(dm.join("dm/suspended"), "yes\n").unwrap();
        let err = scrape(&paths).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("dm/suspended:1: not an unsigned integer: \"yes\""),
            "{err}"
        );
    }
}
