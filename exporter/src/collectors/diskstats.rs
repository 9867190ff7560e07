//! `node_disk_*` from `<procfs>/diskstats`, with the udev properties node_exporter 1.12
//! adds (`node_disk_info`, `node_disk_filesystem_info`, `node_disk_device_mapper_info`,
//! `node_disk_ata_*`). `node_disk_info` carries `rotational` (1.9): "1" when
//! `<sysfs>/block/<device>/queue/rotational` says 1, "0" otherwise (also when sysfs has no
//! queue for the device, as node_exporter's zero value).
//!
//! What a device *is* (its udev properties, its device-mapper name) cannot change while
//! it keeps its name and major:minor, so it is read once and cached: a steady-state
//! scrape reads `/proc/diskstats` and nothing else. Entries of devices that disappear
//! are dropped.
//!
//! Beyond node_exporter: when udev has no `DM_NAME` for a `dm-N` device (containers
//! without `/run/udev`), `node_disk_device_mapper_info` comes from
//! `<sysfs>/block/dm-N/dm/{name,uuid}`, so `/dev/mapper/<name>` can still be mapped
//! to `dm-N`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::parser::ValueSource;
use clap::Arg;

use crate::collector::{BuildContext, Collector, CollectorSpec, DeviceFilter};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::parse_field;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet, Name};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "diskstats",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(DiskStats::build(ctx)?)),
};

const EXCLUDE_FLAG: &str = "collector.diskstats.device-exclude";
const INCLUDE_FLAG: &str = "collector.diskstats.device-include";
/// node_exporter's hidden, deprecated name of `device-exclude`, still accepted.
const OLD_EXCLUDE_FLAG: &str = "collector.diskstats.ignored-devices";

/// node_exporter 1.12's default: partitions, ram and zram disks (zram since 1.8), loop and
/// floppy devices.
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

fn args() -> Vec<Arg> {
    vec![
        Arg::new(EXCLUDE_FLAG)
            .long(EXCLUDE_FLAG)
            .default_value(DEFAULT_DEVICE_EXCLUDE)
            .help("Regexp of diskstats devices to exclude (mutually exclusive to device-include)."),
        Arg::new(INCLUDE_FLAG)
            .long(INCLUDE_FLAG)
            .help("Regexp of diskstats devices to include (mutually exclusive to device-exclude)."),
        Arg::new(OLD_EXCLUDE_FLAG)
            .long(OLD_EXCLUDE_FLAG)
            .hide(true)
            .help("DEPRECATED: Use collector.diskstats.device-exclude"),
    ]
}

/// The include/exclude pair, honouring the deprecated `ignored-devices` as node_exporter does:
/// it replaces the default exclude, and cannot be combined with `device-exclude` or `device-include`.
fn device_filter(ctx: &BuildContext) -> Result<DeviceFilter, ConfigError> {
    let Some(old) = ctx.regex(OLD_EXCLUDE_FLAG)? else {
        return ctx.device_filter(INCLUDE_FLAG, EXCLUDE_FLAG);
    };
    let conflict = if ctx.matches.value_source(EXCLUDE_FLAG) == Some(ValueSource::CommandLine) {
        Some(EXCLUDE_FLAG)
    } else if ctx.regex(INCLUDE_FLAG)?.is_some() {
        Some(INCLUDE_FLAG)
    } else {
        None
    };
    if let Some(other) = conflict {
        return Err(ConfigError::new(
            format!("--{OLD_EXCLUDE_FLAG}"),
            format!("cannot be combined with --{other}"),
        ));
    }
    tracing::warn!(
        "--{OLD_EXCLUDE_FLAG} is DEPRECATED and will be removed in 2.0.0, use --{EXCLUDE_FLAG}"
    );
    Ok(DeviceFilter::Exclude(old))
}

/// Read and write sectors are 512-byte units whatever the device (Documentation/block/stat.rst).
const SECTOR_BYTES: f64 = 512.0;
const SECONDS_PER_MS: f64 = 0.001;
/// /proc/diskstats lines with fewer columns (partitions of 2.6.25 and older) are skipped,
/// as procfs does.
const MIN_FIELDS: usize = 3 + 11;
/// The statistics node_exporter 1.5 knows; later columns are ignored.
const MAX_STATS: usize = 17;

struct StatFamily {
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    scale: f64,
}

const fn counter(name: &'static str, help: &'static str, scale: f64) -> StatFamily {
    StatFamily {
        name,
        help,
        kind: MetricKind::Counter,
        scale,
    }
}

/// One family per /proc/diskstats column, in column order (Documentation/admin-guide/iostats.rst).
const STAT_FAMILIES: [StatFamily; MAX_STATS] = [
    counter(
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1.0,
    ),
    counter(
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        SECTOR_BYTES,
    ),
    counter(
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        SECONDS_PER_MS,
    ),
    counter(
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        1.0,
    ),
    counter(
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        SECTOR_BYTES,
    ),
    counter(
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        SECONDS_PER_MS,
    ),
    StatFamily {
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        kind: MetricKind::Gauge,
        scale: 1.0,
    },
    counter(
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        SECONDS_PER_MS,
    ),
    counter(
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        SECONDS_PER_MS,
    ),
    counter(
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1.0,
    ),
    counter(
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        1.0,
    ),
    // node_exporter exports discarded sectors as sectors, not bytes.
    counter(
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1.0,
    ),
    counter(
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        SECONDS_PER_MS,
    ),
    counter(
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1.0,
    ),
    counter(
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        SECONDS_PER_MS,
    ),
];

/// The ATA udev properties node_exporter exports when `ID_ATA` is set: key, family, help.
const ATA_FAMILIES: [(&str, &str, &str); 3] = [
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStats<'a> {
    pub major: u32,
    pub minor: u32,
    pub name: &'a str,
    /// The first `count` entries are the line's statistics, in column order.
    pub stats: [u64; MAX_STATS],
    pub count: usize,
}

impl DeviceStats<'_> {
    pub fn stats(&self) -> &[u64] {
        &self.stats[..self.count]
    }
}

/// Parses `/proc/diskstats`: 11 statistics since 2.6, 15 with discards (4.18),
/// 17 with flushes (5.5).
pub fn parse_diskstats<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<DeviceStats<'a>>, CollectError> {
    let mut devices = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.split_whitespace().count() < MIN_FIELDS {
            continue;
        }
        let mut fields = line.split_whitespace();
        let major = parse_field(fields.next(), path, line_no, "major number")?;
        let minor = parse_field(fields.next(), path, line_no, "minor number")?;
        let name = fields
            .next()
            .ok_or_else(|| CollectError::parse(path, line_no, "missing device name"))?;
        let mut device = DeviceStats {
            major,
            minor,
            name,
            stats: [0; MAX_STATS],
            count: 0,
        };
        for (slot, family) in device.stats.iter_mut().zip(&STAT_FAMILIES) {
            let Some(text) = fields.next() else { break };
            *slot = parse_field(Some(text), path, line_no, family.name)?;
            device.count += 1;
        }
        devices.push(device);
    }
    Ok(devices)
}

/// The `E:` (property) lines of a udev database file (`/run/udev/data/b8:0`).
pub fn parse_udev_properties(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("E:")?.split_once('='))
        .collect()
}

/// What node_exporter 1.5 reports about a device besides its statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    pub path: String,
    pub wwn: String,
    pub model: String,
    pub serial: String,
    pub revision: String,
    pub filesystem: Option<FilesystemInfo>,
    pub device_mapper: Option<DeviceMapperInfo>,
    /// Values of [`ATA_FAMILIES`], in that order, for ATA disks.
    pub ata: [Option<f64>; 3],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilesystemInfo {
    pub fs_type: String,
    pub usage: String,
    pub uuid: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMapperInfo {
    pub name: String,
    pub uuid: String,
    pub vg_name: String,
    pub lv_name: String,
    pub lv_layer: String,
}

impl DeviceInfo {
    /// node_exporter 1.5's reading of udev properties (absent keys are empty strings).
    pub fn from_udev(properties: &HashMap<&str, &str>, device: &str) -> DeviceInfo {
        let get = |key: &str| properties.get(key).copied().unwrap_or("").to_string();
        let mut info = DeviceInfo {
            path: get("ID_PATH"),
            wwn: get("ID_WWN"),
            model: get("ID_MODEL"),
            // The serial on the disk's label first (1.6), then the short serial, then
            // ID_SERIAL (virtio disks have only that).
            serial: ["SCSI_IDENT_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"]
                .iter()
                .map(|key| get(key))
                .find(|serial| !serial.is_empty())
                .unwrap_or_default(),
            revision: get("ID_REVISION"),
            ..DeviceInfo::default()
        };
        let fs_type = get("ID_FS_TYPE");
        if !fs_type.is_empty() {
            info.filesystem = Some(FilesystemInfo {
                fs_type,
                usage: get("ID_FS_USAGE"),
                uuid: get("ID_FS_UUID"),
                version: get("ID_FS_VERSION"),
            });
        }
        let name = get("DM_NAME");
        if !name.is_empty() {
            info.device_mapper = Some(DeviceMapperInfo {
                name,
                uuid: get("DM_UUID"),
                vg_name: get("DM_VG_NAME"),
                lv_name: get("DM_LV_NAME"),
                lv_layer: get("DM_LV_LAYER"),
            });
        }
        if !get("ID_ATA").is_empty() {
            for (slot, (key, _, _)) in info.ata.iter_mut().zip(ATA_FAMILIES) {
                let Some(text) = properties.get(key) else {
                    continue;
                };
                match text.parse::<f64>() {
                    Ok(value) => *slot = Some(value),
                    Err(_) => {
                        tracing::warn!(device, key, value = *text, "udev property is not a number")
                    }
                }
            }
        }
        info
    }
}

impl DeviceMapperInfo {
    /// From a device-mapper device's name and uuid as sysfs shows them; LVM volumes
    /// (uuid `LVM-…`) also get their volume group, logical volume and layer.
    pub fn from_sysfs(name: &str, uuid: &str) -> DeviceMapperInfo {
        let mut info = DeviceMapperInfo {
            name: name.to_string(),
            uuid: uuid.to_string(),
            ..DeviceMapperInfo::default()
        };
        if uuid.starts_with("LVM-") {
            let (vg_name, rest) = lvm_unquote(name);
            let (lv_name, rest) = lvm_unquote(rest);
            let (lv_layer, _) = lvm_unquote(rest);
            info.vg_name = vg_name;
            info.lv_name = lv_name;
            info.lv_layer = lv_layer;
        }
        info
    }
}

/// LVM's `dm_split_lvm_name` step: the component before the first single `-` with `--`
/// read as `-`, and what follows that `-`. A `-` at the very end is kept as is.
fn lvm_unquote(name: &str) -> (String, &str) {
    let bytes = name.as_bytes();
    let mut component = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' && i + 1 < bytes.len() {
            if bytes[i + 1] != b'-' {
                return (
                    String::from_utf8_lossy(&component).into_owned(),
                    &name[i + 1..],
                );
            }
            i += 1;
        }
        component.push(bytes[i]);
        i += 1;
    }
    (String::from_utf8_lossy(&component).into_owned(), "")
}

/// udev may write a new device's database file a moment after the kernel lists the
/// device; until a device is this old, a missing file is looked for again.
const UDEV_SETTLE: Duration = Duration::from_secs(60);
/// udev database files are a few hundred bytes; anything past this is not read.
const UDEV_FILE_BYTES: u64 = 64 << 10;

struct CachedDevice {
    major: u32,
    minor: u32,
    info: DeviceInfo,
    /// `node_disk_info`'s `rotational` label.
    rotational: &'static str,
    /// Set while the udev file is missing and the device is young: read it again.
    retry_until: Option<Instant>,
    /// The scrape that last listed this device; older entries are dropped.
    seen: u64,
}

pub struct DiskStats {
    diskstats: PathBuf,
    udev_data: PathBuf,
    sysfs_block: PathBuf,
    filter: DeviceFilter,
    /// node_exporter disables udev properties when the directory is not there.
    udev_available: bool,
    cache: HashMap<String, CachedDevice>,
    scrapes: u64,
}

impl DiskStats {
    pub fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        Ok(DiskStats::new(ctx.paths, device_filter(ctx)?))
    }

    pub fn new(paths: &Paths, filter: DeviceFilter) -> Self {
        let udev_available = paths.udev_data.is_dir();
        if !udev_available {
            tracing::warn!(
                path = %paths.udev_data.display(),
                "udev data directory missing, disk info labels will be empty"
            );
        }
        DiskStats {
            diskstats: paths.proc("diskstats"),
            udev_data: paths.udev_data.clone(),
            sysfs_block: paths.sys("block"),
            filter,
            udev_available,
            cache: HashMap::new(),
            scrapes: 0,
        }
    }

    /// Makes sure the cache holds `device`'s info, reading it if the device is new or
    /// changed its major:minor, and reading udev again while a young device has no
    /// udev file yet.
    fn refresh(&mut self, device: &DeviceStats, now: Instant) {
        let scrape = self.scrapes;
        if let Some(entry) = self.cache.get_mut(device.name) {
            if entry.major == device.major && entry.minor == device.minor {
                entry.seen = scrape;
                let Some(until) = entry.retry_until else {
                    return;
                };
                if now >= until {
                    entry.retry_until = None;
                    return;
                }
                let Some(mut info) = read_udev(&self.udev_data, device) else {
                    return;
                };
                // What sysfs said of a device-mapper device stands unless udev now says more.
                if info.device_mapper.is_none() {
                    info.device_mapper = entry.info.device_mapper.take();
                }
                entry.info = info;
                entry.retry_until = None;
                return;
            }
        }
        let udev = if self.udev_available {
            read_udev(&self.udev_data, device)
        } else {
            Some(DeviceInfo::default())
        };
        let retry_until = udev.is_none().then_some(now + UDEV_SETTLE);
        let mut info = udev.unwrap_or_default();
        if info.device_mapper.is_none() && device.name.starts_with("dm-") {
            info.device_mapper = self.read_device_mapper(device.name);
        }
        let rotational = self.read_rotational(device.name);
        self.cache.insert(
            device.name.to_string(),
            CachedDevice {
                major: device.major,
                minor: device.minor,
                info,
                rotational,
                retry_until,
                seen: scrape,
            },
        );
    }

    /// "1" for a rotating disk; "0" for any other answer, as node_exporter formats its
    /// queue statistics' zero value when they cannot be read.
    fn read_rotational(&self, device: &str) -> &'static str {
        let path = self.sysfs_block.join(device).join("queue/rotational");
        match crate::read::read_attribute(&path).as_deref() {
            Ok("1") => "1",
            _ => "0",
        }
    }

    fn read_device_mapper(&self, device: &str) -> Option<DeviceMapperInfo> {
        let dir = self.sysfs_block.join(device).join("dm");
        let name = crate::read::read_attribute(&dir.join("name")).ok()?;
        if name.is_empty() {
            return None;
        }
        let uuid = crate::read::read_attribute(&dir.join("uuid")).unwrap_or_default();
        Some(DeviceMapperInfo::from_sysfs(&name, &uuid))
    }

    fn record(&self, devices: &[&DeviceStats], out: &mut MetricSet) {
        let info_of = |device: &DeviceStats| self.cache.get(device.name).map(|e| &e.info);
        let family = out.family(
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            MetricKind::Gauge,
        );
        for device in devices {
            let Some(entry) = self.cache.get(device.name) else {
                continue;
            };
            let info = &entry.info;
            family.push(
                &[
                    ("device", device.name),
                    ("major", &device.major.to_string()),
                    ("minor", &device.minor.to_string()),
                    ("model", &info.model),
                    ("path", &info.path),
                    ("revision", &info.revision),
                    ("rotational", entry.rotational),
                    ("serial", &info.serial),
                    ("wwn", &info.wwn),
                ],
                1.0,
            );
        }
        for (index, spec) in STAT_FAMILIES.iter().enumerate() {
            for device in devices {
                if let Some(value) = device.stats().get(index) {
                    out.family(spec.name, spec.help, spec.kind)
                        .push(&[("device", device.name)], *value as f64 * spec.scale);
                }
            }
        }
        for device in devices {
            let Some(fs) = info_of(device).and_then(|i| i.filesystem.as_ref()) else {
                continue;
            };
            out.family(
                "node_disk_filesystem_info",
                "Info about disk filesystem.",
                MetricKind::Gauge,
            )
            .push(
                &[
                    ("device", device.name),
                    ("type", &fs.fs_type),
                    ("usage", &fs.usage),
                    ("uuid", &fs.uuid),
                    ("version", &fs.version),
                ],
                1.0,
            );
        }
        for device in devices {
            let Some(dm) = info_of(device).and_then(|i| i.device_mapper.as_ref()) else {
                continue;
            };
            out.family(
                "node_disk_device_mapper_info",
                "Info about disk device mapper.",
                MetricKind::Gauge,
            )
            .push(
                &[
                    ("device", device.name),
                    ("lv_layer", &dm.lv_layer),
                    ("lv_name", &dm.lv_name),
                    ("name", &dm.name),
                    ("uuid", &dm.uuid),
                    ("vg_name", &dm.vg_name),
                ],
                1.0,
            );
        }
        for (index, (_, name, help)) in ATA_FAMILIES.iter().enumerate() {
            for device in devices {
                if let Some(value) = info_of(device).and_then(|i| i.ata[index]) {
                    out.family(
                        Name::Borrowed(name),
                        Name::Borrowed(help),
                        MetricKind::Gauge,
                    )
                    .push(&[("device", device.name)], value);
                }
            }
        }
    }

    #[cfg(test)]
    fn cached_devices(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.cache.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// A device's udev properties; None while its database file does not exist. A file
/// that cannot be read counts as empty, as in node_exporter.
fn read_udev(udev_data: &Path, device: &DeviceStats) -> Option<DeviceInfo> {
    let path = udev_data.join(format!("b{}:{}", device.major, device.minor));
    let mut buf = Vec::new();
    let read = File::open(&path).and_then(|file| file.take(UDEV_FILE_BYTES).read_to_end(&mut buf));
    match read {
        Ok(_) => {
            let text = String::from_utf8_lossy(&buf);
            Some(DeviceInfo::from_udev(
                &parse_udev_properties(&text),
                device.name,
            ))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            tracing::debug!(path = %path.display(), %error, "cannot read udev data");
            Some(DeviceInfo::default())
        }
    }
}

impl Collector for DiskStats {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = sources.table(&self.diskstats)?;
        let all = parse_diskstats(text, &self.diskstats)?;
        // node_exporter's output is sorted by label values; ours follows the order pushed.
        let mut devices: Vec<&DeviceStats> =
            all.iter().filter(|d| self.filter.accepts(d.name)).collect();
        devices.sort_by(|a, b| a.name.cmp(b.name));

        self.scrapes += 1;
        let now = Instant::now();
        for device in &devices {
            self.refresh(device, now);
        }
        let scrape = self.scrapes;
        self.cache.retain(|_, entry| entry.seen == scrape);

        self.record(&devices, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::{fixtures, reference, rendered, Line};

    fn default_filter() -> DeviceFilter {
        DeviceFilter::Exclude(regex_lite::Regex::new(DEFAULT_DEVICE_EXCLUDE).unwrap())
    }

    fn scrape(collector: &mut DiskStats) -> MetricSet {
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn matches_node_exporter_on_the_fixture_tree() {
        let paths = Paths::under(&fixtures());
        let set = scrape(&mut DiskStats::new(&paths, default_filter()));
        // Same families, HELP, TYPE, series, values and order as 1.5, apart from 1.9's
        // rotational label on node_disk_info.
        let disk = |name: &str| name.starts_with("node_disk_");
        let mut rotational = Vec::new();
        let ours: Vec<Line> = rendered(&set, disk)
            .into_iter()
            .map(|line| match line {
                Line::Sample(name, mut labels, value) if name == "node_disk_info" => {
                    let at = labels.iter().position(|(k, _)| k == "rotational").unwrap();
                    rotational.push((labels[0].1.clone(), labels.remove(at).1));
                    Line::Sample(name, labels, value)
                }
                other => other,
            })
            .collect();
        assert_eq!(ours, reference(disk));
        // sys/block/*/queue/rotational: only the SATA disk sda spins.
        let rotational: Vec<(&str, &str)> = rotational
            .iter()
            .map(|(d, r)| (d.as_str(), r.as_str()))
            .collect();
        assert_eq!(rotational, [("dm-0", "0"), ("nvme0n1", "0"), ("sda", "1")]);
        assert_eq!(
            set.value("node_disk_read_bytes_total", &[("device", "nvme0n1")]),
            Some(20000002.0 * 512.0)
        );
    }

    #[test]
    fn without_udev_device_mapper_info_comes_from_sysfs_the_same() {
        let paths = Paths {
            udev_data: fixtures().join("udev/missing"),
            ..Paths::under(&fixtures())
        };
        let set = scrape(&mut DiskStats::new(&paths, default_filter()));
        let mapper = |name: &str| name == "node_disk_device_mapper_info";
        // HELP, TYPE and the one dm-0 series.
        assert_eq!(reference(mapper).len(), 3);
        assert_eq!(rendered(&set, mapper), reference(mapper));
        assert!(set.get("node_disk_filesystem_info").is_none());
    }

    #[test]
    fn parses_every_column_count() {
        let text = "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n\
                    8 1 sda1 1 2 3 4\n\
                    \n\
                    253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n\
                    259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n";
        let devices = parse_diskstats(text, Path::new("diskstats")).unwrap();
        let summary: Vec<_> = devices
            .iter()
            .map(|d| (d.major, d.minor, d.name, d.count))
            .collect();
        assert_eq!(
            summary,
            vec![
                (8, 0, "sda", 11),
                (253, 0, "dm-0", 15),
                (259, 0, "nvme0n1", 17)
            ]
        );
        assert_eq!(devices[2].stats(), &(1..=17).collect::<Vec<u64>>()[..]);
    }

    #[test]
    fn rejects_bad_numbers_with_their_place() {
        let p = Path::new("diskstats");
        let err = parse_diskstats(
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 x sdb 1 2 3 4 5 6 7 8 9 10 11\n",
            p,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "diskstats:2: minor number: not a number: \"x\""
        );
        let err = parse_diskstats("8 0 sda 1 2 3 -4 5 6 7 8 9 10 11\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "diskstats:1: node_disk_read_time_seconds_total: not a number: \"-4\""
        );
    }

    #[test]
    fn scales_sectors_and_milliseconds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("diskstats"),
            "8 0 sda 10 20 30 4000 50 60 70 8000 9 1000 1100 12 13 14 1500 16 1700\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            udev_data: dir.path().join("no-udev"),
            ..Paths::default()
        };
        let set = scrape(&mut DiskStats::new(&paths, DeviceFilter::All));
        let value = |name| set.value(name, &[("device", "sda")]).unwrap();
        assert_eq!(value("node_disk_reads_completed_total"), 10.0);
        assert_eq!(value("node_disk_read_bytes_total"), 30.0 * 512.0);
        assert_eq!(value("node_disk_read_time_seconds_total"), 4.0);
        assert_eq!(value("node_disk_written_bytes_total"), 70.0 * 512.0);
        assert_eq!(value("node_disk_io_now"), 9.0);
        assert_eq!(value("node_disk_io_time_weighted_seconds_total"), 1.1);
        assert_eq!(value("node_disk_discarded_sectors_total"), 14.0);
        assert_eq!(value("node_disk_discard_time_seconds_total"), 1.5);
        assert_eq!(value("node_disk_flush_requests_time_seconds_total"), 1.7);
        assert_eq!(
            set.get("node_disk_info").unwrap().samples()[0].labels,
            [
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("model", ""),
                ("path", ""),
                ("revision", ""),
                ("rotational", "0"),
                ("serial", ""),
                ("wwn", ""),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn discard_and_flush_families_only_when_the_line_has_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("diskstats"),
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n\
             8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::under(dir.path())
        };
        let set = scrape(&mut DiskStats::new(&paths, DeviceFilter::All));
        assert_eq!(
            set.value("node_disk_io_now", &[("device", "sda")]),
            Some(9.0)
        );
        assert_eq!(
            set.value("node_disk_discards_completed_total", &[("device", "sda")]),
            None
        );
        assert_eq!(
            set.value("node_disk_discards_completed_total", &[("device", "sdb")]),
            Some(12.0)
        );
        assert!(set.get("node_disk_flush_requests_total").is_none());
    }

    #[test]
    fn the_default_exclude_drops_partitions_and_zram() {
        let filter = default_filter();
        for dropped in ["zram0", "ram1", "loop7", "sda1", "nvme0n1p2", "xvda3"] {
            assert!(!filter.accepts(dropped), "{dropped}");
        }
        for kept in ["sda", "nvme0n1", "dm-0", "mmcblk0", "zram"] {
            assert!(filter.accepts(kept), "{kept}");
        }
    }

    #[test]
    fn udev_properties_as_node_exporter_1_12_reads_them() {
        let text = "S:disk/by-id/ata-X\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL=Samsung_SSD_S1\n\
                    E:SCSI_IDENT_SERIAL=S1-scsi\nE:ID_SERIAL_SHORT=S1\nE:ID_ATA=1\n\
                    E:ID_ATA_WRITE_CACHE=1\nE:ID_ATA_ROTATION_RATE_RPM=fast\n\
                    E:ID_FS_TYPE=ext4\nE:ID_FS_UUID=u-1\nE:ID_PATH=pci-0:1=2\nnot a property\n";
        let properties = parse_udev_properties(text);
        assert_eq!(properties.get("ID_PATH"), Some(&"pci-0:1=2"));
        let info = DeviceInfo::from_udev(&properties, "sda");
        // SCSI_IDENT_SERIAL first (1.6), then ID_SERIAL_SHORT, then ID_SERIAL.
        assert_eq!(info.serial, "S1-scsi");
        let serial = |text| DeviceInfo::from_udev(&parse_udev_properties(text), "vda").serial;
        assert_eq!(serial("E:ID_SERIAL=V1\nE:ID_SERIAL_SHORT=S1\n"), "S1");
        assert_eq!(serial("E:ID_SERIAL=V1\n"), "V1");
        assert_eq!(serial("E:SCSI_IDENT_SERIAL=\nE:ID_SERIAL=V1\n"), "V1");
        assert_eq!(info.model, "Samsung_SSD");
        assert_eq!(info.wwn, "");
        assert_eq!(info.ata, [Some(1.0), None, None]);
        assert_eq!(
            info.filesystem,
            Some(FilesystemInfo {
                fs_type: "ext4".into(),
                uuid: "u-1".into(),
                ..FilesystemInfo::default()
            })
        );
        assert_eq!(info.device_mapper, None);
    }

    #[test]
    fn splits_lvm_names_by_lvm_rules() {
        let info = DeviceMapperInfo::from_sysfs("my--vg-root--lv", "LVM-abc");
        assert_eq!(
            (info.vg_name.as_str(), info.lv_name.as_str()),
            ("my-vg", "root-lv")
        );
        assert_eq!(info.lv_layer, "");
        let info = DeviceMapperInfo::from_sysfs("vg0-pool_tdata-tpool", "LVM-abc");
        assert_eq!(
            (
                info.vg_name.as_str(),
                info.lv_name.as_str(),
                info.lv_layer.as_str()
            ),
            ("vg0", "pool_tdata", "tpool")
        );
        let info = DeviceMapperInfo::from_sysfs("crypt-home", "CRYPT-LUKS2-abc-crypt-home");
        assert_eq!(
            (
                info.name.as_str(),
                info.vg_name.as_str(),
                info.lv_name.as_str()
            ),
            ("crypt-home", "", "")
        );
        assert_eq!(lvm_unquote("vg-"), ("vg-".to_string(), ""));
    }

    /// A tree with `diskstats`, udev data and a sysfs `dm-1` that udev knows nothing about.
    fn tree() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(&paths.procfs).unwrap();
        std::fs::create_dir_all(&paths.udev_data).unwrap();
        std::fs::create_dir_all(paths.sys("block/dm-1/dm")).unwrap();
        std::fs::write(
            paths.proc("diskstats"),
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11
\
             8 1 sda1 1 2 3 4 5 6 7 8 9 10 11
\
             253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11
\
             253 1 dm-1 1 2 3 4 5 6 7 8 9 10 11
",
        )
        .unwrap();
        std::fs::write(
            paths.udev_data.join("b8:0"),
            "E:ID_MODEL=Disk\nE:ID_SERIAL_SHORT=S1\nE:ID_WWN=0x50\nE:ID_PATH=pci-1\nE:ID_REVISION=R1\n",
        )
        .unwrap();
        std::fs::write(
            paths.udev_data.join("b253:0"),
            "E:DM_NAME=vg0-root\nE:DM_UUID=LVM-x\nE:DM_VG_NAME=vg0\nE:DM_LV_NAME=root\nE:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\n",
        )
        .unwrap();
        std::fs::write(paths.sys("block/dm-1/dm/name"), "my--vg-swap\n").unwrap();
        std::fs::write(paths.sys("block/dm-1/dm/uuid"), "LVM-y\n").unwrap();
        (dir, paths)
    }

    fn labels_of(set: &MetricSet, family: &str) -> Vec<Vec<(String, String)>> {
        set.get(family)
            .map(|f| f.samples().into_iter().map(|s| s.labels).collect())
            .unwrap_or_default()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn info_from_udev_and_device_mapper_from_sysfs() {
        let (_dir, paths) = tree();
        let mut collector = DiskStats::new(&paths, default_filter());
        let set = scrape(&mut collector);
        let info = labels_of(&set, "node_disk_info");
        assert_eq!(info.len(), 3, "sda1 is excluded by default: {info:?}");
        assert_eq!(
            info[2],
            pairs(&[
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("model", "Disk"),
                ("path", "pci-1"),
                ("revision", "R1"),
                ("rotational", "0"),
                ("serial", "S1"),
                ("wwn", "0x50"),
            ])
        );
        assert_eq!(
            labels_of(&set, "node_disk_device_mapper_info"),
            vec![
                pairs(&[
                    ("device", "dm-0"),
                    ("lv_layer", ""),
                    ("lv_name", "root"),
                    ("name", "vg0-root"),
                    ("uuid", "LVM-x"),
                    ("vg_name", "vg0"),
                ]),
                pairs(&[
                    ("device", "dm-1"),
                    ("lv_layer", ""),
                    ("lv_name", "swap"),
                    ("name", "my--vg-swap"),
                    ("uuid", "LVM-y"),
                    ("vg_name", "my-vg"),
                ]),
            ]
        );
        assert_eq!(
            labels_of(&set, "node_disk_filesystem_info"),
            vec![pairs(&[
                ("device", "dm-0"),
                ("type", "ext4"),
                ("usage", "filesystem"),
                ("uuid", ""),
                ("version", ""),
            ])]
        );
    }

    #[test]
    fn steady_state_reads_only_diskstats() {
        let (_dir, paths) = tree();
        let mut collector = DiskStats::new(&paths, default_filter());
        let first = scrape(&mut collector);
        assert_eq!(collector.cached_devices(), ["dm-0", "dm-1", "sda"]);
        // With udev and sysfs gone, the cached info is still reported.
        std::fs::remove_dir_all(&paths.udev_data).unwrap();
        std::fs::remove_dir_all(&paths.sysfs).unwrap();
        std::fs::create_dir_all(&paths.udev_data).unwrap();
        let second = scrape(&mut collector);
        for family in [
            "node_disk_info",
            "node_disk_device_mapper_info",
            "node_disk_filesystem_info",
        ] {
            assert_eq!(
                labels_of(&first, family),
                labels_of(&second, family),
                "{family}"
            );
        }
        // A device that disappears leaves the cache; one that comes back with another
        // major:minor is read again.
        std::fs::write(
            paths.proc("diskstats"),
            "8 16 sda 1 2 3 4 5 6 7 8 9 10 11
",
        )
        .unwrap();
        let third = scrape(&mut collector);
        assert_eq!(collector.cached_devices(), ["sda"]);
        assert_eq!(
            labels_of(&third, "node_disk_info")[0],
            pairs(&[
                ("device", "sda"),
                ("major", "8"),
                ("minor", "16"),
                ("model", ""),
                ("path", ""),
                ("revision", ""),
                ("rotational", "0"),
                ("serial", ""),
                ("wwn", ""),
            ])
        );
    }

    #[test]
    fn a_young_device_without_udev_data_is_looked_up_again() {
        let (_dir, paths) = tree();
        let mut collector = DiskStats::new(&paths, default_filter());
        std::fs::remove_file(paths.udev_data.join("b8:0")).unwrap();
        let set = scrape(&mut collector);
        assert_eq!(
            set.value("node_disk_info", &[("device", "sda"), ("model", "")]),
            Some(1.0)
        );
        std::fs::write(paths.udev_data.join("b8:0"), "E:ID_MODEL=Late\n").unwrap();
        let set = scrape(&mut collector);
        assert_eq!(
            set.value("node_disk_info", &[("device", "sda"), ("model", "Late")]),
            Some(1.0)
        );
        // Once found, it is cached like any other.
        std::fs::remove_file(paths.udev_data.join("b8:0")).unwrap();
        let set = scrape(&mut collector);
        assert_eq!(
            set.value("node_disk_info", &[("device", "sda"), ("model", "Late")]),
            Some(1.0)
        );
    }

    #[test]
    fn flag_defaults_and_the_deprecated_alias() {
        let command = clap::Command::new("t").args(args());
        let build = |argv: &[&str]| {
            let matches = command.clone().try_get_matches_from(argv).unwrap();
            let paths = Paths::default();
            let ctx = BuildContext {
                paths: &paths,
                matches: &matches,
            };
            device_filter(&ctx)
        };
        let filter = build(&["t"]).unwrap();
        assert!(
            !filter.accepts("sda1") && !filter.accepts("nvme0n1p2") && !filter.accepts("loop0")
        );
        assert!(filter.accepts("sda") && filter.accepts("nvme0n1") && filter.accepts("dm-0"));
        let filter = build(&["t", "--collector.diskstats.device-include=^sd"]).unwrap();
        assert!(filter.accepts("sda1") && !filter.accepts("dm-0"));
        let filter = build(&["t", "--collector.diskstats.ignored-devices=^dm-"]).unwrap();
        assert!(filter.accepts("loop0") && !filter.accepts("dm-0"));
        let err = build(&[
            "t",
            "--collector.diskstats.ignored-devices=x",
            "--collector.diskstats.device-exclude=y",
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--collector.diskstats.ignored-devices: cannot be combined with --collector.diskstats.device-exclude"
        );
        assert!(build(&["t", "--collector.diskstats.device-exclude=("]).is_err());
    }
}
