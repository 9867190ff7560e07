//! `node_thermal_zone_temp` from `<sysfs>/class/thermal/thermal_zoneN/{type,temp}` and
//! `node_cooling_device_{cur,max}_state` from `class/thermal/cooling_deviceN/`, with
//! node_exporter 1.12's rules (its procfs): the `zone` and `name` labels are what
//! follows `thermal_zone` and `cooling_device` in the entry name; a zone whose files
//! cannot be read — ENODATA (a wireless card's sensor while the card is down), EINVAL
//! and EAGAIN (sensors that are asleep or not ready, issues #2980/#3071), or any other
//! error opening or reading them — is skipped and the other zones are kept (1.5 failed
//! the whole collector for anything but ENODATA); a value that is not a decimal
//! integer fails the collector with the file named. No `class/thermal` (most VMs) is
//! nothing to report. A cooling device whose files answer ENOENT, EACCES, EOPNOTSUPP
//! or EINVAL is skipped too (procfs's `canIgnoreError`); other errors fail.
//!
//! A zone's and a cooling device's `type` never change while it exists: it is read
//! when the entry appears (or is re-created, with a new inode). Then `policy`, `mode`
//! and `passive`, which 1.5 reads only to fail or skip on, are checked once too: the
//! thermal core always creates the first two and formats `passive` as a number, so
//! only a broken tree fails there, and it fails at every scrape as in 1.5, since a
//! zone that failed is not kept. A steady-state scrape reads `temp`, `cur_state` and
//! `max_state` (a driver may change its maximum), one bounded read each.
//!
//! Unlike node_exporter 1.5, a failure reports nothing from this collector (the
//! scraper's rule); when only a cooling device fails, 1.5 still shows the zone
//! temperatures next to its `success 0`.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::AttributeDir;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "thermal_zone",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(ThermalZone::new(ctx.paths))),
};

const ZONE_PREFIX: &str = "thermal_zone";
const COOLING_PREFIX: &str = "cooling_device";

/// A zone or cooling device as kept between scrapes.
struct Entry {
    /// The `class/thermal` entry and its inode: a re-registered zone is a new entry.
    entry: String,
    inode: u64,
    dir: AttributeDir,
    /// The `zone` or `name` label.
    label: String,
    kind: String,
}

/// One scrape's reading of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneTemp {
    pub zone: String,
    pub kind: String,
    /// Millidegrees Celsius.
    pub temp: i64,
}

/// One scrape's reading of a cooling device.
#[derive(Debug, Clone, PartialEq)]
pub struct CoolingState {
    pub name: String,
    pub kind: String,
    pub cur: i64,
    /// -1 for some (intel_powerclamp when idle), so signed.
    pub max: i64,
}

pub struct ThermalZone {
    class_dir: PathBuf,
    zones: Vec<Entry>,
    cooling_devices: Vec<Entry>,
}

/// What an attribute read gave: its text, or that the zone is to be skipped.
enum Read {
    Text(String),
    Skip,
}

/// Reads attribute `file` of a zone: any error opening or reading it skips the zone
/// this scrape (node_exporter 1.12: procfs skips a zone on ENODATA, EAGAIN, EINVAL and
/// every path error).
fn read(dir: &AttributeDir, file: &str) -> Read {
    classify(dir.read(file), || dir.path_of(file))
}

fn classify(result: io::Result<String>, path: impl FnOnce() -> PathBuf) -> Read {
    match result {
        Ok(text) => Read::Text(text),
        Err(error) => {
            tracing::debug!(path = %path().display(), %error, "thermal zone skipped");
            Read::Skip
        }
    }
}

/// procfs's `canIgnoreError` for cooling devices: missing, not permitted, not
/// supported or invalid.
fn ignorable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
    ) || matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL))
}

/// Go's `strconv.ParseInt(text, 10, 64)`, failing with the file named.
fn parse_i64(text: &str, dir: &AttributeDir, file: &str) -> Result<i64, CollectError> {
    text.parse().map_err(|_| {
        CollectError::parse(&dir.path_of(file), 1, format!("not an integer: {text:?}"))
    })
}

/// The names in `class/thermal` that node_exporter's glob `<prefix>[0-9]*` matches,
/// sorted, with their inodes; none when `class/thermal` cannot be listed, as Go's
/// glob ignores that error.
fn glob(class_dir: &Path, prefix: &str) -> Vec<(String, u64)> {
    let entries = match std::fs::read_dir(class_dir) {
        Ok(entries) => entries,
        Err(error) => {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::debug!(dir = %class_dir.display(), %error, "cannot list the thermal class");
            }
            return Vec::new();
        }
    };
    let mut found: Vec<(String, u64)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?;
            rest.starts_with(|c: char| c.is_ascii_digit())
                .then(|| (name.clone(), entry.ino()))
        })
        .collect();
    found.sort();
    found
}

/// Takes the cached entry for `(entry, inode)` out of `cache`, or builds a new one.
fn cached_or(
    cache: &mut HashMap<String, Entry>,
    entry: &str,
    inode: u64,
    build: impl FnOnce() -> Result<Option<Entry>, CollectError>,
) -> Result<Option<Entry>, CollectError> {
    match cache.remove(entry) {
        Some(kept) if kept.inode == inode => Ok(Some(kept)),
        _ => build(),
    }
}

impl ThermalZone {
    pub fn new(paths: &Paths) -> Self {
        ThermalZone {
            class_dir: paths.sys("class/thermal"),
            zones: Vec::new(),
            cooling_devices: Vec::new(),
        }
    }

    /// Opens a new zone and checks the attributes node_exporter requires; `None` to
    /// skip it this scrape (an attribute that cannot be read).
    fn open_zone(&self, entry: &str, inode: u64) -> Result<Option<Entry>, CollectError> {
        let path = self.class_dir.join(entry);
        let dir = match AttributeDir::open(&path) {
            Ok(dir) => dir,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "thermal zone skipped");
                return Ok(None);
            }
        };
        let Read::Text(kind) = read(&dir, "type") else {
            return Ok(None);
        };
        if let Read::Skip = read(&dir, "policy") {
            return Ok(None);
        }
        // mode and passive are optional; unreadable for lack of permission is absent.
        for optional in ["mode", "passive"] {
            let text = match dir.read(optional) {
                Ok(text) => text,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    continue
                }
                Err(_) => return Ok(None),
            };
            if optional == "passive" && text.parse::<u64>().is_err() {
                return Err(CollectError::parse(
                    &dir.path_of(optional),
                    1,
                    format!("not an unsigned integer: {text:?}"),
                ));
            }
        }
        Ok(Some(Entry {
            entry: entry.to_string(),
            inode,
            dir,
            label: entry[ZONE_PREFIX.len()..].to_string(),
            kind,
        }))
    }

    /// Opens a new cooling device and reads its type; `None` to skip it this scrape.
    fn open_cooling_device(&self, entry: &str, inode: u64) -> Result<Option<Entry>, CollectError> {
        let path = self.class_dir.join(entry);
        let dir = match AttributeDir::open(&path) {
            Ok(dir) => dir,
            Err(e) if ignorable(&e) => return Ok(None),
            Err(e) => return Err(CollectError::read(&path, e)),
        };
        let kind = match dir.read("type") {
            Ok(kind) => kind,
            Err(e) if ignorable(&e) => return Ok(None),
            Err(e) => return Err(CollectError::read(&dir.path_of("type"), e)),
        };
        Ok(Some(Entry {
            entry: entry.to_string(),
            inode,
            dir,
            label: entry[COOLING_PREFIX.len()..].to_string(),
            kind,
        }))
    }

    /// Every zone that has a temperature now, in entry name order.
    pub fn read_zones(&mut self) -> Result<Vec<ZoneTemp>, CollectError> {
        let listed = glob(&self.class_dir, ZONE_PREFIX);
        let mut cache: HashMap<String, Entry> = self
            .zones
            .drain(..)
            .map(|zone| (zone.entry.clone(), zone))
            .collect();
        let mut temps = Vec::with_capacity(listed.len());
        for (entry, inode) in listed {
            let Some(zone) =
                cached_or(&mut cache, &entry, inode, || self.open_zone(&entry, inode))?
            else {
                continue;
            };
            let temp = match read(&zone.dir, "temp") {
                Read::Text(text) => Some(parse_i64(&text, &zone.dir, "temp")?),
                Read::Skip => None,
            };
            if let Some(temp) = temp {
                temps.push(ZoneTemp {
                    zone: zone.label.clone(),
                    kind: zone.kind.clone(),
                    temp,
                });
            }
            self.zones.push(zone);
        }
        Ok(temps)
    }

    /// Every cooling device, in entry name order.
    pub fn read_cooling_devices(&mut self) -> Result<Vec<CoolingState>, CollectError> {
        let listed = glob(&self.class_dir, COOLING_PREFIX);
        let mut cache: HashMap<String, Entry> = self
            .cooling_devices
            .drain(..)
            .map(|device| (device.entry.clone(), device))
            .collect();
        let mut states = Vec::with_capacity(listed.len());
        for (entry, inode) in listed {
            let Some(device) = cached_or(&mut cache, &entry, inode, || {
                self.open_cooling_device(&entry, inode)
            })?
            else {
                continue;
            };
            // Ok(None): an error procfs ignores, which skips the device this scrape.
            let state = |file| -> Result<Option<i64>, CollectError> {
                match device.dir.read(file) {
                    Ok(text) => parse_i64(&text, &device.dir, file).map(Some),
                    Err(e) if ignorable(&e) => Ok(None),
                    Err(e) => Err(CollectError::read(&device.dir.path_of(file), e)),
                }
            };
            let (Some(max), Some(cur)) = (state("max_state")?, state("cur_state")?) else {
                self.cooling_devices.push(device);
                continue;
            };
            states.push(CoolingState {
                name: device.label.clone(),
                kind: device.kind.clone(),
                cur,
                max,
            });
            self.cooling_devices.push(device);
        }
        Ok(states)
    }
}

/// Appends the families, samples ordered as node_exporter orders them: by label
/// values in label name order (`type` before `zone`, `name` before `type`).
pub fn record(zones: &[ZoneTemp], devices: &[CoolingState], out: &mut MetricSet) {
    let mut zones: Vec<&ZoneTemp> = zones.iter().collect();
    zones.sort_by(|a, b| (&a.kind, &a.zone).cmp(&(&b.kind, &b.zone)));
    if !zones.is_empty() {
        let family = out.family(
            "node_thermal_zone_temp",
            "Zone temperature in Celsius",
            MetricKind::Gauge,
        );
        for zone in zones {
            family.push(
                &[("type", &zone.kind), ("zone", &zone.zone)],
                zone.temp as f64 / 1000.0,
            );
        }
    }
    let mut devices: Vec<&CoolingState> = devices.iter().collect();
    devices.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
    if devices.is_empty() {
        return;
    }
    for (name, help, current) in [
        (
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            true,
        ),
        (
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            false,
        ),
    ] {
        let family = out.family(name, help, MetricKind::Gauge);
        for device in &devices {
            let state = if current { device.cur } else { device.max };
            family.push(
                &[("name", &device.name), ("type", &device.kind)],
                state as f64,
            );
        }
    }
}

impl Collector for ThermalZone {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let zones = self.read_zones()?;
        let devices = self.read_cooling_devices()?;
        record(&zones, &devices, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, reference, rendered};
    use std::os::unix::fs::symlink;

    fn scrape(collector: &mut ThermalZone) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    fn is_thermal_family(name: &str) -> bool {
        name.starts_with("node_thermal_zone_") || name.starts_with("node_cooling_device_")
    }

    #[test]
    fn the_fixture_matches_node_exporter() {
        let set = scrape(&mut ThermalZone::new(&fixture_paths())).unwrap();
        let expected = reference(is_thermal_family);
        assert_eq!(expected.len(), 3 * 2 + 2 + 2 * 2);
        assert_eq!(rendered(&set, is_thermal_family), expected);
        let zone =
            |kind, zone| set.value("node_thermal_zone_temp", &[("type", kind), ("zone", zone)]);
        assert_eq!(zone("x86_pkg_temp", "0"), Some(46.0));
        assert_eq!(zone("cpu-thermal", "1"), Some(51.54));
        let powerclamp = [("name", "1"), ("type", "intel_powerclamp")];
        assert_eq!(
            set.value("node_cooling_device_cur_state", &powerclamp),
            Some(-1.0)
        );
        assert_eq!(
            set.value("node_cooling_device_max_state", &powerclamp),
            Some(50.0)
        );
    }

    /// `class/thermal/<entry>` linked to `devices/virtual/thermal/<entry>` with `files`.
    fn entry(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = root.join("devices/virtual/thermal").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
        std::fs::create_dir_all(root.join("class/thermal")).unwrap();
        symlink(&dir, root.join("class/thermal").join(name)).unwrap();
        dir
    }

    fn zone(root: &Path, name: &str, kind: &str, temp: &str) -> PathBuf {
        entry(
            root,
            name,
            &[("type", kind), ("policy", "step_wise"), ("temp", temp)],
        )
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn zones_and_devices_are_named_after_their_entries() {
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), "thermal_zone12", "acpitz", "27800");
        zone(root.path(), "thermal_zone2", "acpitz", "-5000");
        // Not matched by node_exporter's glob.
        zone(root.path(), "thermal_zoneX", "acpitz", "1000");
        entry(
            root.path(),
            "cooling_device3",
            &[("type", "Fan"), ("cur_state", "1"), ("max_state", "2")],
        );
        let mut collector = ThermalZone::new(&sys_paths(&root));
        let zones = collector.read_zones().unwrap();
        let zone = |zone: &str, temp| ZoneTemp {
            zone: zone.to_string(),
            kind: "acpitz".to_string(),
            temp,
        };
        assert_eq!(zones, [zone("12", 27800), zone("2", -5000)]);
        let devices = collector.read_cooling_devices().unwrap();
        assert_eq!(
            devices,
            [CoolingState {
                name: "3".to_string(),
                kind: "Fan".to_string(),
                cur: 1,
                max: 2
            }]
        );
        let mut set = MetricSet::new();
        record(&zones, &devices, &mut set);
        let temps: Vec<_> = set
            .get("node_thermal_zone_temp")
            .unwrap()
            .rendered()
            .map(|(l, v)| (l.to_string(), v))
            .collect();
        assert_eq!(
            temps,
            [
                ("type=\"acpitz\",zone=\"12\"".to_string(), 27.8),
                ("type=\"acpitz\",zone=\"2\"".to_string(), -5.0)
            ]
        );
    }

    #[test]
    fn the_type_is_read_once_per_entry() {
        let root = tempfile::tempdir().unwrap();
        let dir = zone(root.path(), "thermal_zone0", "x86_pkg_temp", "40000");
        let device = entry(
            root.path(),
            "cooling_device0",
            &[
                ("type", "Processor"),
                ("cur_state", "0"),
                ("max_state", "3"),
            ],
        );
        let mut collector = ThermalZone::new(&sys_paths(&root));
        scrape(&mut collector).unwrap();
        std::fs::write(dir.join("type"), "changed\n").unwrap();
        std::fs::remove_file(dir.join("policy")).unwrap();
        std::fs::write(dir.join("temp"), "41000\n").unwrap();
        std::fs::write(device.join("type"), "changed\n").unwrap();
        std::fs::write(device.join("max_state"), "7\n").unwrap();
        let set = scrape(&mut collector).unwrap();
        let temp = [("type", "x86_pkg_temp"), ("zone", "0")];
        assert_eq!(set.value("node_thermal_zone_temp", &temp), Some(41.0));
        let processor = [("name", "0"), ("type", "Processor")];
        assert_eq!(
            set.value("node_cooling_device_max_state", &processor),
            Some(7.0)
        );
        // A re-created entry is read afresh, and skipped as node_exporter 1.12 skips a
        // zone without a policy file.
        let link = root.path().join("class/thermal/thermal_zone0");
        // Made beside the old link and renamed over it, so the new entry's inode is
        // allocated while the old one still exists and cannot be the same number.
        let fresh = link.with_extension("new");
        symlink(&dir, &fresh).unwrap();
        std::fs::rename(&fresh, &link).unwrap();
        let set = scrape(&mut collector).unwrap();
        assert!(set.get("node_thermal_zone_temp").is_none());
        assert_eq!(
            set.value("node_cooling_device_max_state", &processor),
            Some(7.0)
        );
    }

    #[test]
    fn errors_fail_the_collector_naming_the_file() {
        let failing = |setup: &dyn Fn(&Path), expected: &str| {
            let root = tempfile::tempdir().unwrap();
            let dir = zone(root.path(), "thermal_zone0", "acpitz", "40000");
            entry(
                root.path(),
                "cooling_device0",
                &[("type", "Fan"), ("cur_state", "0"), ("max_state", "1")],
            );
            setup(&dir);
            let err = scrape(&mut ThermalZone::new(&sys_paths(&root)))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
        };
        failing(
            &|dir| std::fs::write(dir.join("temp"), "hot\n").unwrap(),
            "thermal_zone0/temp:1: not an integer: \"hot\"",
        );
        failing(
            &|dir| std::fs::write(dir.join("passive"), "-1\n").unwrap(),
            "thermal_zone0/passive:1: not an unsigned integer: \"-1\"",
        );
        let device = |dir: &Path| dir.parent().unwrap().join("cooling_device0");
        failing(
            &|dir| std::fs::write(device(dir).join("cur_state"), "x\n").unwrap(),
            "cooling_device0/cur_state:1: not an integer: \"x\"",
        );
        // A cooling device read error other than those procfs ignores (EISDIR here).
        failing(
            &|dir| {
                std::fs::remove_file(device(dir).join("max_state")).unwrap();
                std::fs::create_dir(device(dir).join("max_state")).unwrap();
            },
            "cooling_device0/max_state: Is a directory",
        );
    }

    #[test]
    fn optional_attributes_may_be_absent_or_valid() {
        let root = tempfile::tempdir().unwrap();
        let dir = zone(root.path(), "thermal_zone0", "acpitz", "  40000 ");
        std::fs::write(dir.join("passive"), "95000\n").unwrap();
        std::fs::write(dir.join("mode"), "disabled\n").unwrap();
        let set = scrape(&mut ThermalZone::new(&sys_paths(&root))).unwrap();
        let temp = [("type", "acpitz"), ("zone", "0")];
        assert_eq!(set.value("node_thermal_zone_temp", &temp), Some(40.0));
        assert!(set.get("node_cooling_device_cur_state").is_none());
    }

    #[test]
    fn read_errors_skip_the_zone() {
        let path = || PathBuf::from("/sys/class/thermal/thermal_zone3/temp");
        for errno in [
            libc::ENODATA,
            libc::EINVAL,
            libc::EAGAIN,
            libc::EIO,
            libc::ENOENT,
        ] {
            let error = io::Error::from_raw_os_error(errno);
            assert!(matches!(classify(Err(error), path), Read::Skip), "{errno}");
        }
        assert!(matches!(classify(Ok("1".into()), path), Read::Text(t) if t == "1"));
    }

    #[test]
    fn an_unreadable_zone_is_skipped_and_the_others_kept() {
        // Tegra/Jetson zones answer EINVAL while their sensor sleeps (#2980, #3071):
        // node_exporter 1.12 drops that zone only. Here each broken zone fails
        // differently: temp a directory (EISDIR), temp missing, type missing, mode
        // unreadable (a directory).
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), "thermal_zone0", "cpu-thermal", "55000");
        let broken = zone(root.path(), "thermal_zone1", "gpu-thermal", "1");
        std::fs::remove_file(broken.join("temp")).unwrap();
        std::fs::create_dir(broken.join("temp")).unwrap();
        let missing = zone(root.path(), "thermal_zone2", "pmic", "1");
        std::fs::remove_file(missing.join("temp")).unwrap();
        let no_type = zone(root.path(), "thermal_zone3", "x", "1");
        std::fs::remove_file(no_type.join("type")).unwrap();
        let bad_mode = zone(root.path(), "thermal_zone4", "y", "1");
        std::fs::create_dir(bad_mode.join("mode")).unwrap();
        zone(root.path(), "thermal_zone5", "soc-thermal", "56500");
        let set = scrape(&mut ThermalZone::new(&sys_paths(&root))).unwrap();
        let temps: Vec<_> = set
            .get("node_thermal_zone_temp")
            .unwrap()
            .rendered()
            .map(|(l, v)| (l.to_string(), v))
            .collect();
        assert_eq!(
            temps,
            [
                ("type=\"cpu-thermal\",zone=\"0\"".to_string(), 55.0),
                ("type=\"soc-thermal\",zone=\"5\"".to_string(), 56.5)
            ]
        );
    }

    #[test]
    fn a_cooling_device_with_a_missing_file_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        entry(
            root.path(),
            "cooling_device0",
            &[("type", "Fan"), ("cur_state", "1"), ("max_state", "2")],
        );
        entry(
            root.path(),
            "cooling_device1",
            &[("type", "Processor"), ("cur_state", "0")],
        );
        let set = scrape(&mut ThermalZone::new(&sys_paths(&root))).unwrap();
        let family = set.get("node_cooling_device_max_state").unwrap();
        assert_eq!(family.len(), 1);
        assert_eq!(
            set.value(
                "node_cooling_device_max_state",
                &[("name", "0"), ("type", "Fan")]
            ),
            Some(2.0)
        );
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        let eio = io::Error::from_raw_os_error(libc::EIO);
        assert!(ignorable(&einval) && !ignorable(&eio));
    }

    #[test]
    fn no_thermal_class_is_nothing_to_report() {
        let root = tempfile::tempdir().unwrap();
        assert!(scrape(&mut ThermalZone::new(&sys_paths(&root)))
            .unwrap()
            .families()
            .is_empty());
    }

    #[test]
    fn this_host_scrapes_without_error() {
        let mut collector = ThermalZone::new(&Paths::default());
        for _ in 0..2 {
            scrape(&mut collector).unwrap();
        }
    }
}
