//! Disks: block-device filesystems (`node_filesystem_*{device="/dev/…"}`) joined with
//! the I/O counters of their device (`node_disk_*{device}`).
//!
//! The filesystem names its device as mounted (`/dev/sda1`, `/dev/nvme0n1p2`,
//! `/dev/mapper/vg0-data`); diskstats names kernel devices (`sda`, `nvme0n1`, `dm-0`),
//! and node_exporter drops most partitions from it by default. So a partition takes
//! its own counters if they are there and its disk's otherwise, and a device-mapper
//! volume is found through `node_disk_device_mapper_info{device,name}`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::series::{Series, Window};
use crate::model::DiskMetrics;

pub(super) fn record(window: &Window) -> Vec<DiskMetrics> {
    let series = &window.now;
    let sizes = filesystems(series, "node_filesystem_size_bytes");
    let free = filesystems(series, "node_filesystem_free_bytes");
    let avail = filesystems(series, "node_filesystem_avail_bytes");
    let io_devices: HashSet<&str> = series
        .samples("node_disk_read_bytes_total")
        .chain(series.samples("node_disk_written_bytes_total"))
        .filter_map(|s| s.label("device"))
        .collect();
    let mapper: HashMap<&str, &str> = series
        .samples("node_disk_device_mapper_info")
        .filter_map(|s| Some((s.label("name")?, s.label("device")?)))
        .collect();

    let mut disks = Vec::new();
    for (mount, size) in mounts(&sizes) {
        let total = size as u64;
        let free = free.get(&mount).map_or(0, |v| *v as u64);
        let available = avail.get(&mount).map_or(0, |v| *v as u64);
        let used = total.saturating_sub(free);
        let mut disk = DiskMetrics {
            device: mount.device.to_string(),
            mount_point: mount.mount_point.to_string(),
            fs_type: mount.fs_type.to_string(),
            total,
            used,
            available,
            // As df: space reserved for root counts neither as used nor as available.
            usage_percent: match used + available {
                0 => 0.0,
                whole => used as f64 / whole as f64 * 100.0,
            },
            ..DiskMetrics::default()
        };
        if let Some(io) = io_device(mount.device, &io_devices, &mapper) {
            add_io(&mut disk, window, io);
        }
        disks.push(disk);
    }
    disks
}

/// A mounted filesystem, as the filesystem families label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Mount<'a> {
    device: &'a str,
    mount_point: &'a str,
    fs_type: &'a str,
}

/// The values of a filesystem family for the block devices (`/dev/…`), by mount.
fn filesystems<'a>(series: &Series<'a>, name: &str) -> BTreeMap<Mount<'a>, f64> {
    series
        .samples(name)
        .filter_map(|s| {
            let mount = Mount {
                device: s.label("device")?,
                mount_point: s.label("mountpoint")?,
                fs_type: s.label_or_empty("fstype"),
            };
            mount
                .device
                .starts_with("/dev/")
                .then_some((mount, s.value))
        })
        .collect()
}

/// One mount per device, in device order: a device mounted twice (bind mounts, such as
/// a kubelet's volume mounts) is shown once, at its shortest mount point.
fn mounts<'a>(sizes: &BTreeMap<Mount<'a>, f64>) -> Vec<(Mount<'a>, f64)> {
    let mut chosen: BTreeMap<&str, (Mount, f64)> = BTreeMap::new();
    for (mount, size) in sizes {
        let better = |(other, _): &(Mount, f64)| {
            (mount.mount_point.len(), mount.mount_point)
                < (other.mount_point.len(), other.mount_point)
        };
        if chosen.get(mount.device).is_none_or(better) {
            chosen.insert(mount.device, (*mount, *size));
        }
    }
    chosen.into_values().collect()
}

/// The diskstats device whose counters a mounted device's I/O is read from.
fn io_device<'a>(
    device: &'a str,
    io_devices: &HashSet<&'a str>,
    mapper: &HashMap<&str, &'a str>,
) -> Option<&'a str> {
    let name = device.strip_prefix("/dev/")?;
    if let Some(dm_name) = name.strip_prefix("mapper/") {
        return mapper.get(dm_name).copied();
    }
    if io_devices.contains(name) {
        return Some(name);
    }
    let parent = parent_disk(name)?;
    io_devices.contains(parent).then_some(parent)
}

/// The disk a partition belongs to: `sda1` → `sda`; `nvme0n1p2`, `mmcblk0p1` → drop `pN`.
fn parent_disk(partition: &str) -> Option<&str> {
    let disk = partition.trim_end_matches(|c: char| c.is_ascii_digit());
    if disk.len() == partition.len() || disk.is_empty() {
        return None;
    }
    // A disk whose name ends in a digit separates its partition number with `p`.
    match disk.strip_suffix('p') {
        Some(base) if base.ends_with(|c: char| c.is_ascii_digit()) => Some(base),
        _ => Some(disk),
    }
}

fn add_io(disk: &mut DiskMetrics, window: &Window, device: &str) {
    let counter = |name: &str| window.now.find(name, "device", device).unwrap_or(0.0);
    let rate = |name: &str| window.rate(name, "device", device);
    disk.read_bytes = counter("node_disk_read_bytes_total") as u64;
    disk.write_bytes = counter("node_disk_written_bytes_total") as u64;
    disk.read_rate = rate("node_disk_read_bytes_total");
    disk.write_rate = rate("node_disk_written_bytes_total");
    disk.read_iops = rate("node_disk_reads_completed_total");
    disk.write_iops = rate("node_disk_writes_completed_total");
    // Busy seconds per second; scrape-time jitter can push it a little over 100.
    disk.io_util = (rate("node_disk_io_time_seconds_total") * 100.0).min(100.0);
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::Scrape;
    use super::*;

    fn disks(current: &Scrape, previous: Option<&Scrape>) -> Vec<DiskMetrics> {
        record(&Window::new(current, previous))
    }

    fn series(name: &str, device: &str) -> String {
        format!("{name}{{device=\"{device}\"}}")
    }

    #[test]
    fn block_device_filesystems_of_the_node_exporter_fixture() {
        let disks = disks(&scrape(NODE_EXPORTER, 0), None);
        // tmpfs and the NFS mount are not block devices.
        let rows: Vec<(&str, &str, &str)> = disks
            .iter()
            .map(|d| {
                (
                    d.device.as_str(),
                    d.mount_point.as_str(),
                    d.fs_type.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("/dev/mapper/vg0-data", "/data", "xfs"),
                ("/dev/nvme0n1p1", "/boot", "vfat"),
                ("/dev/nvme0n1p2", "/", "ext4"),
                ("/dev/sda1", "/mnt/my disk", "ext4"),
            ]
        );
        // The fixture's statfs values are the host's, the same for every mount.
        let root = &disks[2];
        assert_eq!(root.total, 270553174016);
        assert_eq!(root.used, 270553174016 - 256525217792);
        assert_eq!(root.available, 83544793088);
        assert_eq!(
            root.usage_percent,
            14027956224.0 / (14027956224.0 + 83544793088.0) * 100.0
        );
        // I/O: partitions without diskstats of their own read their disk's; the LVM
        // volume reads dm-0 through its mapper name.
        let read: Vec<u64> = disks.iter().map(|d| d.read_bytes).collect();
        assert_eq!(read, [3840001024, 10240001024, 10240001024, 4608001536]);
        assert_eq!(disks[0].write_bytes, 1740803072);
        // One scrape: no rates.
        assert!(disks.iter().all(|d| (
            d.read_rate,
            d.write_rate,
            d.read_iops,
            d.write_iops,
            d.io_util
        ) == (0.0, 0.0, 0.0, 0.0, 0.0)));
    }

    #[test]
    fn rates_over_ten_seconds() {
        let before = scrape(NODE_EXPORTER, 0);
        let mut text = NODE_EXPORTER.to_string();
        for (name, device, value) in [
            (
                "node_disk_read_bytes_total",
                "nvme0n1",
                10240001024.0 + 1048576.0,
            ),
            (
                "node_disk_written_bytes_total",
                "nvme0n1",
                15360003072.0 + 4096000.0,
            ),
            (
                "node_disk_reads_completed_total",
                "nvme0n1",
                250001.0 + 256.0,
            ),
            (
                "node_disk_writes_completed_total",
                "nvme0n1",
                180004.0 + 50.0,
            ),
            ("node_disk_io_time_seconds_total", "nvme0n1", 110.009 + 2.5),
            ("node_disk_read_bytes_total", "dm-0", 3840001024.0 + 20480.0),
            ("node_disk_io_time_seconds_total", "dm-0", 81.009 + 10.2),
        ] {
            text = with_value(&text, &series(name, device), value);
        }
        let disks = disks(&scrape(&text, 10), Some(&before));
        let root = &disks[2];
        assert_eq!(root.read_bytes, 10241049600);
        assert_eq!(root.read_rate, 104857.6);
        assert_eq!(root.write_rate, 409600.0);
        assert_eq!(root.read_iops, 25.6);
        assert_eq!(root.write_iops, 5.0);
        assert_close(root.io_util, 25.0);
        // /boot is on the same disk.
        assert_eq!(disks[1].read_rate, 104857.6);
        let data = &disks[0];
        assert_eq!(data.read_rate, 2048.0);
        assert_eq!(data.io_util, 100.0, "capped");
        assert_eq!(disks[3].read_rate, 0.0);
    }

    #[test]
    fn a_counter_reset_gives_no_rate_for_that_interval() {
        let before = scrape(NODE_EXPORTER, 0);
        let text = with_value(
            NODE_EXPORTER,
            &series("node_disk_read_bytes_total", "sda"),
            4096.0,
        );
        let text = with_value(
            &text,
            &series("node_disk_written_bytes_total", "sda"),
            3379203584.0 + 100.0,
        );
        let after = scrape(&text, 10);
        let disks = disks(&after, Some(&before));
        let sda1 = &disks[3];
        assert_eq!((sda1.read_bytes, sda1.read_rate), (4096, 0.0));
        assert_eq!(sda1.write_rate, 10.0);
        // The next interval has a rate again.
        let next = with_value(&text, &series("node_disk_read_bytes_total", "sda"), 8192.0);
        let later = record(&Window::new(&scrape(&next, 20), Some(&after)));
        assert_eq!(later[3].read_rate, 409.6);
    }

    #[test]
    fn device_names() {
        let io: HashSet<&str> = [
            "sda",
            "sdb1",
            "nvme0n1",
            "mmcblk0",
            "mmcblk0p2",
            "dm-0",
            "xvda",
        ]
        .into_iter()
        .collect();
        let mapper: HashMap<&str, &str> = [("vg0-data", "dm-0")].into_iter().collect();
        for (device, expected) in [
            ("/dev/sda", Some("sda")),
            ("/dev/sda1", Some("sda")),
            ("/dev/sdb1", Some("sdb1")),
            ("/dev/nvme0n1p2", Some("nvme0n1")),
            ("/dev/mmcblk0p1", Some("mmcblk0")),
            ("/dev/mmcblk0p2", Some("mmcblk0p2")),
            ("/dev/xvda1", Some("xvda")),
            ("/dev/mapper/vg0-data", Some("dm-0")),
            ("/dev/dm-0", Some("dm-0")),
            ("/dev/mapper/other", None),
            // Raspberry Pi OS mounts / as /dev/root: no device to read.
            ("/dev/root", None),
            ("/dev/sdc1", None),
        ] {
            assert_eq!(io_device(device, &io, &mapper), expected, "{device}");
        }
    }

    #[test]
    fn a_device_mounted_twice_is_shown_once() {
        let text = "node_filesystem_size_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/var/lib/kubelet/pods/x/volume\"} 100
node_filesystem_size_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 100
node_filesystem_size_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/var\"} 100
node_filesystem_size_bytes{device=\"overlay\",fstype=\"overlay\",mountpoint=\"/var/lib/containers\"} 100
node_filesystem_free_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 40
node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 30
";
        let disks = disks(&scrape(text, 0), None);
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0].mount_point, "/");
        assert_eq!((disks[0].used, disks[0].available), (60, 30));
        assert_close(disks[0].usage_percent, 60.0 / 90.0 * 100.0);
        // No diskstats: no I/O.
        assert_eq!(disks[0].read_bytes, 0);
    }
}
