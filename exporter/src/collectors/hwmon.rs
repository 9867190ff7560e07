//! Hardware sensors from `<sysfs>/class/hwmon/hwmonN/` (and the `device/` directory
//! behind each chip, where older drivers put their attributes), named, labelled and
//! scaled as node_exporter 1.12's hwmon collector does it: `temp*` in °C, `in*` and
//! `cpu*` in volts, `curr*` in amperes, `power*` in watts, `energy*` in joules,
//! `humidity*` as node_exporter's "ratio" (milli-percent / 10⁶, so 45 % is 0.045),
//! `fan*` in rpm, `freqN_input` of a labelled sensor (GPU clocks, 1.9) in MHz as
//! `node_hwmon_freq_freq_mhz{sensor="<cleaned label>"}`, and everything else as read.
//!
//! `--collector.hwmon.chip-include/-exclude` match the `chip` label;
//! `--collector.hwmon.sensor-include/-exclude` match `<chip>;<sensor>` (so
//! `platform_coretemp_0;temp3` names one sensor of one chip). Each pair may be given
//! together: a chip or sensor is dropped when it matches the exclude or misses the
//! include.
//!
//! `hwmonN` numbers follow the order drivers load in, so the `chip` label comes from
//! the device path instead (`platform_coretemp_0`, `i2c_1_1_0044`,
//! `pci0000:00_0000:00:18_3`), then from the chip's `name` file, then `hwmonN`. When
//! several chips get the same label (one parent device registering several hwmon
//! chips: a wifi card's radios, an ASUS WMI device), node_exporter 1.12 (#3646)
//! suffixes each with `_<name>` where the cleaned `name` file tells them apart, and
//! with `_<hwmonN>` otherwise; a label no other chip has is left alone.
//!
//! The chip label, chip name, sensor labels and the list of sensor files never change
//! while a chip exists: they are read when a chip appears, and again only when its
//! `class/hwmon` entry is re-created (a new inode) or one of its files goes missing.
//! A steady-state scrape lists `class/hwmon` and reads each value file once, with one
//! bounded read on the kept chip directory. A file that fails to read (EAGAIN, EIO,
//! ENODATA from a sensor that is not ready) is left out of that scrape, as
//! node_exporter leaves it out.
//!
//! Unlike node_exporter 1.5:
//! - a `class/hwmon` entry that is a dangling link (a chip going away), or a chip whose
//!   directory cannot be listed, is skipped; 1.5 reports every other chip too, but
//!   marks the whole collector failed;
//! - values are read trimmed of white space, so ` 42` counts (1.5 skips it; no driver
//!   pads numbers), and a value must be decimal (Go also takes hex floats);
//! - should two chips still end up with the same `chip` label after the suffixes
//!   (`<base>_<name>` equal to another chip's base), the series of the first `hwmonN`
//!   (in name order) are kept and the others dropped, where node_exporter logs a
//!   "collected before" gathering error;
//! - if two files give one family name with different help texts (a bare `in0` next
//!   to another chip's `in0_input`), both samples are kept under the first help; 1.5
//!   drops one of them, whichever its map order gathers second.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::AttributeDir;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "hwmon",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(Hwmon::build(ctx)?)),
};

const CHIP_INCLUDE: &str = "collector.hwmon.chip-include";
const CHIP_EXCLUDE: &str = "collector.hwmon.chip-exclude";
const SENSOR_INCLUDE: &str = "collector.hwmon.sensor-include";
const SENSOR_EXCLUDE: &str = "collector.hwmon.sensor-exclude";

fn args() -> Vec<Arg> {
    // node_exporter's help texts, "device-" typos included.
    [
        (
            CHIP_INCLUDE,
            "Regexp of hwmon chip to include (mutually exclusive to device-exclude).",
        ),
        (
            CHIP_EXCLUDE,
            "Regexp of hwmon chip to exclude (mutually exclusive to device-include).",
        ),
        (
            SENSOR_INCLUDE,
            "Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude).",
        ),
        (
            SENSOR_EXCLUDE,
            "Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include).",
        ),
    ]
    .into_iter()
    .map(|(flag, help)| Arg::new(flag).long(flag).help(help))
    .collect()
}

/// node_exporter's `deviceFilter`: both patterns apply when both are given.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
}

impl NameFilter {
    pub fn ignores(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|re| re.is_match(name))
            || self.include.as_ref().is_some_and(|re| !re.is_match(name))
    }

    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// The sensor types node_exporter reads; files of other types (`name`, `uevent`,
/// `shunt_resistor`, …) are ignored.
const SENSOR_TYPES: [&str; 14] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// node_exporter reads 128 bytes of a sensor file; a longer label is cut there.
const GO_READ_BYTES: usize = 128;

/// How a raw reading becomes the exported value, in node_exporter's own arithmetic:
/// `x * 0.001` and `x / 1e6` round differently from `x / 1000` and `x * 1e-6`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    One,
    /// `* 0.001`: milli-units (m°C, mV, mA, ms) to units.
    Milli,
    /// `/ 1e6`: micro-units (µW, µJ) to units; also humidity and power accuracy.
    Micro,
}

impl Scale {
    fn apply(self, value: f64) -> f64 {
        match self {
            Scale::One => value,
            Scale::Milli => value * 0.001,
            Scale::Micro => value / 1_000_000.0,
        }
    }
}

/// The family a sensor file's reading goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySpec {
    pub name: String,
    pub help: String,
    pub kind: MetricKind,
    pub scale: Scale,
}

/// node_exporter 1.5's mapping of a sensor file `<type><n>_<element>` to a family.
/// `bare_read` says whether the sensor's file without an element (`temp1`) was read:
/// then `_input` keeps its name (`node_hwmon_temp_input_celsius`). `None` for `label`.
pub fn family_for(sensor_type: &str, element: &str, bare_read: bool) -> Option<FamilySpec> {
    let mut name = format!("node_hwmon_{sensor_type}");
    match element {
        "label" => return None,
        "input" if !bare_read => {}
        "" => {}
        other => {
            name.push('_');
            name.push_str(&clean_metric_name(other.as_bytes()));
        }
    }
    let spec = |name: String, help: String, scale: Scale| FamilySpec {
        name,
        help,
        kind: MetricKind::Gauge,
        scale,
    };
    // The order of the arms is node_exporter's order of checks.
    Some(match (sensor_type, element) {
        (_, "fault" | "alarm") => spec(
            name,
            format!("Hardware sensor {element} status ({sensor_type})"),
            Scale::One,
        ),
        (_, "beep") => spec(
            name + "_enabled",
            "Hardware monitor sensor has beeping enabled".to_string(),
            Scale::One,
        ),
        ("in" | "cpu", _) => spec(
            name + "_volts",
            format!("Hardware monitor for voltage ({element})"),
            Scale::Milli,
        ),
        ("temp", _) if element != "type" => {
            let shown = if element.is_empty() { "input" } else { element };
            spec(
                name + "_celsius",
                format!("Hardware monitor for temperature ({shown})"),
                Scale::Milli,
            )
        }
        ("curr", _) => spec(
            name + "_amps",
            format!("Hardware monitor for current ({element})"),
            Scale::Milli,
        ),
        ("energy", _) => FamilySpec {
            kind: MetricKind::Counter,
            ..spec(
                name + "_joule_total",
                format!("Hardware monitor for joules used so far ({element})"),
                Scale::Micro,
            )
        },
        ("power", "accuracy") => spec(
            name,
            "Hardware monitor power meter accuracy, as a ratio".to_string(),
            Scale::Micro,
        ),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => spec(
            name + "_seconds",
            format!("Hardware monitor power usage update interval ({element})"),
            Scale::Milli,
        ),
        ("power", _) => spec(
            name + "_watt",
            format!("Hardware monitor for power usage in watts ({element})"),
            Scale::Micro,
        ),
        ("humidity", _) => spec(
            name,
            format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"),
            Scale::Micro,
        ),
        ("fan", "input" | "min" | "max" | "target") => spec(
            name + "_rpm",
            format!("Hardware monitor for fan revolutions per minute ({element})"),
            Scale::One,
        ),
        // Only for a sensor with a label, which becomes its `sensor` label.
        ("freq", "input") => spec(
            name + "_freq_mhz",
            "Hardware monitor for GPU frequency in MHz".to_string(),
            Scale::Micro,
        ),
        _ => spec(
            name,
            format!("Hardware monitor {sensor_type} element {element}"),
            Scale::One,
        ),
    })
}

/// Sensor types whose whole value is their one element-less file (`beep_enable`,
/// `vrm`, `update_interval`): node_exporter gives each a family of its own and
/// ignores any other file of theirs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    BeepEnable,
    Vrm,
    UpdateInterval,
}

impl Special {
    fn of(sensor_type: &str) -> Option<Special> {
        match sensor_type {
            "beep_enable" => Some(Special::BeepEnable),
            "vrm" => Some(Special::Vrm),
            "update_interval" => Some(Special::UpdateInterval),
            _ => None,
        }
    }
}

/// node_exporter's `cleanMetricName`: lower case, every character outside
/// `[a-z0-9:_]` (and every byte of invalid UTF-8) becomes `_`, then leading and
/// trailing `_` are trimmed.
pub fn clean_metric_name(raw: &[u8]) -> String {
    let mut cleaned = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            // Go's ToLower maps each character to one: only U+0130 lowers to more
            // than one in Rust, and its first is Go's 'i'.
            let lower = c.to_lowercase().next().unwrap_or(c);
            if lower.is_ascii_lowercase() || lower.is_ascii_digit() || lower == ':' || lower == '_'
            {
                cleaned.push(lower);
            } else {
                cleaned.push('_');
            }
        }
        cleaned.extend(std::iter::repeat_n('_', chunk.invalid().len()));
    }
    cleaned.trim_matches('_').to_string()
}

/// A sensor file name split as node_exporter's
/// `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$` splits it, with that
/// regular expression's leftmost-first preferences: `temp1_crit_alarm` is
/// (`temp`, 1, `crit_alarm`), `update_interval` is (`update_interval`, 0, ``) and
/// `temp_x1` is (`temp`, 0, `x1`). `None` where it does not match or the number
/// overflows.
pub fn explode_sensor_filename(name: &str) -> Option<(&str, i64, &str)> {
    let bytes = name.as_bytes();
    let prefix = bytes.iter().take_while(|b| !b.is_ascii_digit()).count();
    if prefix == 0 {
        return None;
    }
    let digits = bytes[prefix..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let rest = &name[prefix + digits..];
    let property = |rest: &'_ str| -> Option<()> {
        let property = rest.strip_prefix('_')?;
        (!property.is_empty() && !property.contains('\n')).then_some(())
    };
    if rest.is_empty() || property(rest).is_some() {
        let number = match &name[prefix..prefix + digits] {
            "" => 0,
            id => id.parse().ok()?,
        };
        return Some((&name[..prefix], number, rest.get(1..).unwrap_or("")));
    }
    // The greedy type failed; a shorter one must be followed by `_<property>`
    // directly (no number can follow, as a non-digit does).
    (1..prefix)
        .rev()
        .find(|&end| bytes[end] == b'_' && property(&name[end..]).is_some())
        .map(|end| (&name[..end], 0, &name[end + 1..]))
}

/// Go's `strconv.ParseFloat(text, 64)` on what a sensor file holds: a value out of
/// range is an error there, not an infinity.
fn parse_go_float(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    if value.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(value)
}

/// Reads up to one page of a chip's `name` or a sensor's `label` as bytes, untrimmed:
/// node_exporter keeps the spaces of a label, and cleans the bytes of a name itself.
fn read_raw(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let len = File::open(path)?.read(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

/// A sensor label as node_exporter 1.5 exports it: the first 128 bytes, trimmed of
/// newlines only, each run of invalid UTF-8 replaced by one U+FFFD.
pub fn label_text(raw: &[u8]) -> String {
    let raw = &raw[..raw.len().min(GO_READ_BYTES)];
    let start = raw.iter().take_while(|&&b| b == b'\n').count();
    let end = raw.len()
        - raw[start..]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\n')
            .count();
    let mut text = String::with_capacity(end - start);
    let mut in_invalid_run = false;
    for chunk in raw[start..end].utf8_chunks() {
        if !chunk.valid().is_empty() {
            text.push_str(chunk.valid());
            in_invalid_run = false;
        }
        if !chunk.invalid().is_empty() && !in_invalid_run {
            text.push('\u{FFFD}');
            in_invalid_run = true;
        }
    }
    text
}

/// node_exporter's `hwmonName`: `<parent>_<device>` of where the `device` link
/// points, else the cleaned `name` file (`name`, from [`chip_name`]), else the real
/// directory's name (`hwmonN`).
pub fn chip_label(dir: &Path, name: Option<&str>) -> io::Result<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let clean = |part: Option<&std::ffi::OsStr>| {
            part.map_or(String::new(), |p| clean_metric_name(p.as_bytes()))
        };
        let name = clean(device.file_name());
        let parent = clean(device.parent().and_then(Path::file_name));
        if !parent.is_empty() && !name.is_empty() {
            return Ok(format!("{parent}_{name}"));
        }
        if !name.is_empty() {
            return Ok(name);
        }
    }
    if let Some(name) = name {
        return Ok(name.to_string());
    }
    let real = std::fs::canonicalize(dir)?;
    let name = real
        .file_name()
        .map_or(String::new(), |n| clean_metric_name(n.as_bytes()));
    if name.is_empty() {
        return Err(io::Error::other("cannot derive a chip name"));
    }
    Ok(name)
}

/// The chip's cleaned `name` file (`node_hwmon_chip_names`), if it has one.
pub fn chip_name(dir: &Path) -> Option<String> {
    let raw = read_raw(&dir.join("name")).ok()?;
    let name = clean_metric_name(&raw);
    (!name.is_empty()).then_some(name)
}

/// Where a sensor file is: the chip directory or its `device` directory.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Chip,
    Device,
}

/// One element of a sensor (`crit` of `temp1`): its file in each place it was
/// found — the device directory's wins, as it does in node_exporter, which reads it
/// second — and the family its readings go to.
#[derive(Debug)]
struct Element {
    files: Vec<(Place, String)>,
    family: usize,
    /// For `input` while the element-less file reads: `<type>_input` families.
    family_if_bare: Option<usize>,
    scale: Scale,
    /// `freqN_input`: exported only for a labelled sensor, with the cleaned label as
    /// its `sensor` label.
    sensor_from_label: bool,
}

#[derive(Debug)]
struct Sensor {
    /// `temp1`, `update_interval0`: the type and number, as node_exporter writes them.
    name: String,
    special: Option<Special>,
    label: Option<String>,
    /// The label cleaned like a metric name (`freq` sensors' `sensor` label).
    clean_label: Option<String>,
    elements: Vec<Element>,
    /// The index in `elements` of the file without an element (`temp1`).
    bare: Option<usize>,
}

/// What is kept of one chip between scrapes.
struct Chip {
    /// The `class/hwmon` entry and its inode: a re-registered chip is a new entry.
    entry: String,
    inode: u64,
    /// The label derived from the chip alone (device path, name or `hwmonN`).
    label: String,
    /// The label shown when another chip derives the same one (see the module doc).
    shown: Option<String>,
    name: Option<String>,
    dir: AttributeDir,
    device: Option<AttributeDir>,
    sensors: Vec<Sensor>,
    /// A listed file was missing: list the chip again next scrape.
    stale: bool,
}

impl Chip {
    /// The `chip` label.
    fn chip_label(&self) -> &str {
        self.shown.as_deref().unwrap_or(&self.label)
    }

    fn attributes(&self, place: Place) -> Option<&AttributeDir> {
        match place {
            Place::Chip => Some(&self.dir),
            Place::Device => self.device.as_ref(),
        }
    }

    /// Reads an element: the last of its files that reads. A missing file means the
    /// list is out of date.
    fn read(&mut self, sensor: usize, element: usize) -> Option<String> {
        let files = &self.sensors[sensor].elements[element].files;
        let mut stale = false;
        let mut text = None;
        for (place, file) in files.iter().rev() {
            let Some(dir) = self.attributes(*place) else {
                continue;
            };
            match dir.read(file) {
                Ok(read) => {
                    text = Some(read);
                    break;
                }
                Err(error) => {
                    stale |= error.kind() == io::ErrorKind::NotFound;
                    tracing::debug!(file = %dir.path_of(file).display(), %error, "skipping a sensor file");
                }
            }
        }
        self.stale |= stale;
        text
    }
}

/// The families of this collector's series, each named once.
#[derive(Default)]
struct Families {
    specs: Vec<FamilySpec>,
    by_name: HashMap<String, usize>,
}

impl Families {
    /// The index of `spec`'s family; the first help text given for a name stays.
    fn intern(&mut self, spec: FamilySpec) -> usize {
        if let Some(&index) = self.by_name.get(&spec.name) {
            return index;
        }
        self.by_name.insert(spec.name.clone(), self.specs.len());
        self.specs.push(spec);
        self.specs.len() - 1
    }

    fn fixed(&mut self, name: &str, help: &str) -> usize {
        self.intern(FamilySpec {
            name: name.to_string(),
            help: help.to_string(),
            kind: MetricKind::Gauge,
            scale: Scale::One,
        })
    }
}

/// The families whose labels are not `{chip, sensor}`, and the special sensors'.
struct FixedFamilies {
    chip_names: usize,
    sensor_label: usize,
    beep_enabled: usize,
    voltage_regulator: usize,
    update_interval: usize,
}

impl FixedFamilies {
    /// The family and scale of a special sensor's element-less file.
    fn spec(&self, special: Special, families: &Families) -> FamilySpec {
        let (family, scale) = match special {
            Special::BeepEnable => (self.beep_enabled, Scale::One),
            Special::Vrm => (self.voltage_regulator, Scale::One),
            Special::UpdateInterval => (self.update_interval, Scale::Milli),
        };
        FamilySpec {
            scale,
            ..families.specs[family].clone()
        }
    }

    fn new(families: &mut Families) -> Self {
        FixedFamilies {
            chip_names: families.fixed(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
            ),
            sensor_label: families
                .fixed("node_hwmon_sensor_label", "Label for given chip and sensor"),
            beep_enabled: families.fixed("node_hwmon_beep_enabled", "Hardware beep enabled"),
            voltage_regulator: families.fixed(
                "node_hwmon_voltage_regulator_version",
                "Hardware voltage regulator",
            ),
            update_interval: families.fixed(
                "node_hwmon_update_interval_seconds",
                "Hardware monitor update interval",
            ),
        }
    }
}

/// One sample of a scrape, by index into the cache; its label values are looked up
/// when the samples are sorted and written.
#[derive(Debug, Clone, Copy)]
struct Row {
    family: usize,
    chip: usize,
    /// The sensor; `None` for `node_hwmon_chip_names`.
    sensor: Option<usize>,
    value: f64,
    /// The `sensor` label is the sensor's cleaned label (`node_hwmon_freq_freq_mhz`).
    sensor_from_label: bool,
}

/// The hwmon collector: the chips seen so far and the families they feed.
pub struct Hwmon {
    class_dir: PathBuf,
    chips: Vec<Chip>,
    families: Families,
    fixed: FixedFamilies,
    chip_filter: NameFilter,
    sensor_filter: NameFilter,
}

impl Hwmon {
    pub fn new(paths: &Paths) -> Self {
        let mut families = Families::default();
        let fixed = FixedFamilies::new(&mut families);
        Hwmon {
            class_dir: paths.sys("class/hwmon"),
            chips: Vec::new(),
            families,
            fixed,
            chip_filter: NameFilter::default(),
            sensor_filter: NameFilter::default(),
        }
    }

    pub fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let mut hwmon = Hwmon::new(ctx.paths);
        hwmon.chip_filter = NameFilter {
            include: ctx.regex(CHIP_INCLUDE)?,
            exclude: ctx.regex(CHIP_EXCLUDE)?,
        };
        hwmon.sensor_filter = NameFilter {
            include: ctx.regex(SENSOR_INCLUDE)?,
            exclude: ctx.regex(SENSOR_EXCLUDE)?,
        };
        Ok(hwmon)
    }

    /// node_exporter 1.12's labels for chips that derive the same one: `<label>_<name>`
    /// when the cleaned name tells the chip apart from the others with that label,
    /// `<label>_<hwmonN>` otherwise. Cheap when nothing collides (the usual case).
    fn disambiguate(&mut self) {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for chip in &self.chips {
            *count.entry(chip.label.as_str()).or_default() += 1;
        }
        let shared: Vec<bool> = self
            .chips
            .iter()
            .map(|chip| count.get(chip.label.as_str()).is_some_and(|n| *n > 1))
            .collect();
        let mut shown = Vec::with_capacity(self.chips.len());
        for (index, chip) in self.chips.iter().enumerate() {
            if !shared[index] {
                shown.push(None);
                continue;
            }
            let name_is_unique = chip.name.as_ref().is_some_and(|name| {
                self.chips.iter().enumerate().all(|(other_index, other)| {
                    other_index == index
                        || other.label != chip.label
                        || other.name.as_ref() != Some(name)
                })
            });
            let suffix = match &chip.name {
                Some(name) if name_is_unique => name.clone(),
                _ => clean_metric_name(chip.entry.as_bytes()),
            };
            shown.push(Some(format!("{}_{suffix}", chip.label)));
        }
        for (chip, shown) in self.chips.iter_mut().zip(shown) {
            chip.shown = shown;
        }
    }

    /// Brings the cached chips in line with `class/hwmon`, in entry name order (the
    /// order node_exporter walks them in). `false` if there is no `class/hwmon`.
    fn refresh_chips(&mut self) -> Result<bool, CollectError> {
        let entries = match std::fs::read_dir(&self.class_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.chips.clear();
                return Ok(false);
            }
            Err(e) => return Err(CollectError::read(&self.class_dir, e)),
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.class_dir, e))?;
            match entry.file_name().into_string() {
                Ok(name) => listed.push((name, entry.ino())),
                Err(name) => {
                    tracing::debug!(entry = ?name, "skipping a hwmon entry that is not UTF-8")
                }
            }
        }
        listed.sort();
        let mut cached: HashMap<String, Chip> = self
            .chips
            .drain(..)
            .map(|chip| (chip.entry.clone(), chip))
            .collect();
        for (entry, inode) in listed {
            match cached.remove(&entry) {
                Some(chip) if chip.inode == inode && !chip.stale => self.chips.push(chip),
                _ => {
                    let path = self.class_dir.join(&entry);
                    match scan_chip(&path, &mut self.families, &self.fixed) {
                        Ok(mut chip) => {
                            chip.entry = entry;
                            chip.inode = inode;
                            self.chips.push(chip);
                        }
                        // A dangling link (a chip going away), a file in class/hwmon, a
                        // directory that cannot be listed: not a chip this scrape.
                        Err(error) => {
                            tracing::debug!(chip = %path.display(), %error, "skipping a hwmon chip")
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    /// Reads every value file of every chip into rows.
    fn read_rows(&mut self) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut filter_key = String::new();
        for (chip_index, chip) in self.chips.iter_mut().enumerate() {
            if self.chip_filter.ignores(chip.chip_label()) {
                continue;
            }
            let row = |family, sensor, value| Row {
                family,
                chip: chip_index,
                sensor,
                value,
                sensor_from_label: false,
            };
            if chip.name.is_some() {
                rows.push(row(self.fixed.chip_names, None, 1.0));
            }
            for sensor_index in 0..chip.sensors.len() {
                let sensor = &chip.sensors[sensor_index];
                if !self.sensor_filter.is_empty() {
                    filter_key.clear();
                    filter_key.push_str(chip.chip_label());
                    filter_key.push(';');
                    filter_key.push_str(&sensor.name);
                    if self.sensor_filter.ignores(&filter_key) {
                        continue;
                    }
                }
                let has_label = sensor.label.is_some();
                let (special, bare) = (sensor.special, sensor.bare);
                let readings: Vec<Option<String>> = (0..sensor.elements.len())
                    .map(|element| chip.read(sensor_index, element))
                    .collect();
                if !has_label && readings.iter().all(Option::is_none) {
                    continue;
                }
                let sensor_row = |family, value| row(family, Some(sensor_index), value);
                if has_label {
                    rows.push(sensor_row(self.fixed.sensor_label, 1.0));
                }
                let bare_text = bare.and_then(|i| readings[i].as_deref());
                // beep_enable is 1 only for "1", and 0 even when it cannot be read.
                if special == Some(Special::BeepEnable) {
                    let on = bare_text == Some("1");
                    rows.push(sensor_row(self.fixed.beep_enabled, f64::from(u8::from(on))));
                    continue;
                }
                let sensor = &chip.sensors[sensor_index];
                for (element, text) in sensor.elements.iter().zip(&readings) {
                    let Some(value) = text.as_deref().and_then(parse_go_float) else {
                        continue;
                    };
                    if element.sensor_from_label && sensor.clean_label.is_none() {
                        continue;
                    }
                    let family = match element.family_if_bare {
                        Some(family) if bare_text.is_some() => family,
                        _ => element.family,
                    };
                    rows.push(Row {
                        sensor_from_label: element.sensor_from_label,
                        ..sensor_row(family, element.scale.apply(value))
                    });
                }
            }
        }
        rows
    }

    /// A row's label values, in the order of its label names (sorted, as Go writes them).
    fn label_values(&self, row: &Row) -> [&str; 3] {
        let chip = &self.chips[row.chip];
        let label = chip.chip_label();
        match row.sensor {
            None => [label, chip.name.as_deref().unwrap_or(""), ""],
            Some(sensor) => {
                let sensor = &chip.sensors[sensor];
                if row.family == self.fixed.sensor_label {
                    [label, sensor.label.as_deref().unwrap_or(""), &sensor.name]
                } else if row.sensor_from_label {
                    [label, sensor.clean_label.as_deref().unwrap_or(""), ""]
                } else {
                    [label, &sensor.name, ""]
                }
            }
        }
    }

    /// Writes the rows in node_exporter's order (by family, then label values), the
    /// first of any duplicate series only.
    fn record(&self, mut rows: Vec<Row>, out: &mut MetricSet) {
        let specs = &self.families.specs;
        rows.sort_by(|a, b| {
            specs[a.family]
                .name
                .cmp(&specs[b.family].name)
                .then_with(|| self.label_values(a).cmp(&self.label_values(b)))
        });
        rows.dedup_by(|later, earlier| {
            later.family == earlier.family && self.label_values(later) == self.label_values(earlier)
        });
        let mut start = 0;
        while start < rows.len() {
            let family_index = rows[start].family;
            let end = rows[start..]
                .iter()
                .position(|r| r.family != family_index)
                .map_or(rows.len(), |n| start + n);
            let spec = &specs[family_index];
            let family = out.family(spec.name.clone(), spec.help.clone(), spec.kind);
            for row in &rows[start..end] {
                let [chip, second, third] = self.label_values(row);
                if row.sensor.is_none() {
                    family.push(&[("chip", chip), ("chip_name", second)], row.value);
                } else if family_index == self.fixed.sensor_label {
                    family.push(
                        &[("chip", chip), ("label", second), ("sensor", third)],
                        row.value,
                    );
                } else {
                    family.push(&[("chip", chip), ("sensor", second)], row.value);
                }
            }
            start = end;
        }
    }
}

/// A sensor's files by element, each in the places it was found, in reading order.
type ElementFiles = BTreeMap<String, Vec<(Place, String)>>;

/// Lists the sensor files of the chip at `path` (a `class/hwmon` entry), reads its
/// labels and names, and works out each file's family.
fn scan_chip(path: &Path, families: &mut Families, fixed: &FixedFamilies) -> io::Result<Chip> {
    let dir = AttributeDir::open(path)?;
    let name = chip_name(path);
    let label = chip_label(path, name.as_deref())?;
    let device_path = path.join("device");
    let device = AttributeDir::open(&device_path).ok();

    // sensor name -> (type, element -> files), in the order node_exporter reads them.
    let mut found: BTreeMap<String, (String, ElementFiles)> = BTreeMap::new();
    let mut places = vec![(Place::Chip, path)];
    if device.is_some() {
        places.push((Place::Device, device_path.as_path()));
    }
    for (place, dir_path) in places {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir_path)? {
            let entry = entry?;
            // `power/` and `hwmon/` match sensor types but are directories.
            if entry.file_type()?.is_dir() {
                continue;
            }
            if let Ok(file) = entry.file_name().into_string() {
                files.push(file);
            }
        }
        files.sort();
        for file in files {
            let Some((sensor_type, number, element)) = explode_sensor_filename(&file) else {
                continue;
            };
            if !SENSOR_TYPES.contains(&sensor_type) {
                continue;
            }
            let (sensor_type, element) = (sensor_type.to_string(), element.to_string());
            let sensor = found
                .entry(format!("{sensor_type}{number}"))
                .or_insert_with(|| (sensor_type, BTreeMap::new()));
            sensor.1.entry(element).or_default().push((place, file));
        }
    }

    let mut sensors = Vec::with_capacity(found.len());
    for (sensor_name, (sensor_type, mut elements)) in found {
        let label = match elements.remove("label") {
            Some(files) => files.iter().rev().find_map(|(place, file)| {
                let dir_path = match place {
                    Place::Chip => path,
                    Place::Device => device_path.as_path(),
                };
                read_raw(&dir_path.join(file))
                    .ok()
                    .map(|raw| label_text(&raw))
            }),
            None => None,
        };
        let clean_label = (sensor_type == "freq")
            .then(|| label.as_deref().map(|l| clean_metric_name(l.as_bytes())))
            .flatten();
        let special = Special::of(&sensor_type);
        if special.is_some() {
            // Only the element-less file counts for these.
            elements.retain(|element, _| element.is_empty());
        }
        let has_bare = elements.contains_key("");
        let mut sensor = Sensor {
            name: sensor_name,
            special,
            label,
            clean_label,
            elements: Vec::with_capacity(elements.len()),
            bare: None,
        };
        for (element, files) in elements {
            let spec = match special {
                Some(special) => fixed.spec(special, families),
                None => match family_for(&sensor_type, &element, false) {
                    Some(spec) => spec,
                    None => continue,
                },
            };
            let family_if_bare = (element == "input" && has_bare)
                .then(|| family_for(&sensor_type, &element, true))
                .flatten()
                .map(|spec| families.intern(spec));
            if element.is_empty() {
                sensor.bare = Some(sensor.elements.len());
            }
            sensor.elements.push(Element {
                scale: spec.scale,
                family: families.intern(spec),
                family_if_bare,
                files,
                sensor_from_label: sensor_type == "freq" && element == "input",
            });
        }
        sensors.push(sensor);
    }
    Ok(Chip {
        entry: String::new(),
        inode: 0,
        label,
        shown: None,
        name,
        dir,
        device,
        sensors,
        stale: false,
    })
}

impl Collector for Hwmon {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        if !self.refresh_chips()? {
            // node_exporter 1.5 reports success 0 here (ErrNoData); so do we.
            return Err(CollectError::NoData(format!(
                "{} does not exist",
                self.class_dir.display()
            )));
        }
        self.disambiguate();
        let rows = self.read_rows();
        self.record(rows, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, reference, rendered, Line};
    use std::os::unix::fs::symlink;

    fn scrape(hwmon: &mut Hwmon) -> MetricSet {
        let mut out = MetricSet::new();
        hwmon.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    fn is_hwmon_family(name: &str) -> bool {
        name.starts_with("node_hwmon_")
    }

    /// The chips added to the fixture for 1.12's behaviour (three radios of one wifi
    /// card, a GPU with clocks), which the 1.5 reference scrape predates.
    fn added_for_1_12(labels: &[(String, String)]) -> bool {
        labels
            .iter()
            .any(|(k, v)| k == "chip" && (v.starts_with("ieee80211_phy0") || v == GPU_CHIP))
    }

    const GPU_CHIP: &str = "0000:00:01_0_0000:01:00_0";

    #[test]
    fn the_fixture_matches_node_exporter() {
        let set = scrape(&mut Hwmon::new(&fixture_paths()));
        let expected = reference(is_hwmon_family);
        // 52 families (HELP and TYPE each) and their 101 series.
        assert_eq!(expected.len(), 52 * 2 + 101);
        let mut ours: Vec<Line> = rendered(&set, is_hwmon_family)
            .into_iter()
            .filter(|line| !matches!(line, Line::Sample(_, labels, _) if added_for_1_12(labels)))
            .collect();
        // node_hwmon_freq_freq_mhz has only the GPU's series: drop its HELP and TYPE too.
        ours.retain(|line| line.family() != "node_hwmon_freq_freq_mhz");
        assert_eq!(ours, expected);

        // Spot checks, with exact values from tests/fixtures/sys.
        let value = |name, chip, sensor| set.value(name, &[("chip", chip), ("sensor", sensor)]);
        let coretemp = "platform_coretemp_0";
        assert_eq!(
            value("node_hwmon_temp_celsius", coretemp, "temp1"),
            Some(46.0)
        );
        assert_eq!(
            value("node_hwmon_temp_crit_alarm_celsius", coretemp, "temp3"),
            Some(0.001)
        );
        // temp3 has no temp3_input: its limits and label only.
        assert_eq!(value("node_hwmon_temp_celsius", coretemp, "temp3"), None);
        assert_eq!(
            value("node_hwmon_temp_max_celsius", coretemp, "temp3"),
            Some(100.0)
        );
        let label = [("chip", coretemp), ("label", "Core 1"), ("sensor", "temp3")];
        assert_eq!(set.value("node_hwmon_sensor_label", &label), Some(1.0));
        // No device link: the chip is named after its name file.
        assert_eq!(
            value("node_hwmon_temp_celsius", "cpu_thermal", "temp1"),
            Some(51.54)
        );
        let ina = "i2c_1_1_0040";
        assert_eq!(
            value("node_hwmon_in_volts", ina, "in1"),
            Some(12040.0 * 0.001)
        );
        assert_eq!(value("node_hwmon_curr_amps", ina, "curr1"), Some(0.742));
        assert_eq!(value("node_hwmon_power_watt", ina, "power1"), Some(8.935));
        assert_eq!(
            value("node_hwmon_energy_joule_total", ina, "energy1"),
            Some(123.456789)
        );
        assert_eq!(
            value("node_hwmon_humidity", "i2c_1_1_0044", "humidity1"),
            Some(0.045123)
        );
        let pch = "pci0000:00_0000:00:14_2";
        assert_eq!(value("node_hwmon_temp_celsius", pch, "temp1"), Some(47.5));
        let nct = "platform_nct6775_656";
        assert_eq!(value("node_hwmon_fan_rpm", nct, "fan1"), Some(1205.0));
        assert_eq!(
            value("node_hwmon_voltage_regulator_version", nct, "vrm0"),
            Some(100.0)
        );
        // The ACPI power meter keeps its attributes on the device and has no name file.
        let meter = "lnxsybus:00_acpi000d:00";
        assert_eq!(
            value("node_hwmon_power_average_watt", meter, "power1"),
            Some(9.45)
        );
        assert_eq!(
            value("node_hwmon_power_accuracy", meter, "power1"),
            Some(0.095)
        );
        assert_eq!(set.value("node_hwmon_chip_names", &[("chip", meter)]), None);
        let names = set.get("node_hwmon_chip_names").unwrap();
        // 7 chips of 1.5's reference, 3 radios and the GPU.
        assert_eq!(names.len(), 11);
    }

    /// `devices/<device>/hwmon/<hwmon>` with `files`, a `device` link when `device` is
    /// not empty, and the `class/hwmon/<hwmon>` link to it.
    fn chip(root: &Path, hwmon: &str, device: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = if device.is_empty() {
            root.join("devices/virtual/hwmon").join(hwmon)
        } else {
            root.join("devices").join(device).join("hwmon").join(hwmon)
        };
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
        if !device.is_empty() {
            symlink(root.join("devices").join(device), dir.join("device")).unwrap();
        }
        std::fs::create_dir_all(root.join("class/hwmon")).unwrap();
        symlink(&dir, root.join("class/hwmon").join(hwmon)).unwrap();
        dir
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn a_steady_scrape_reads_only_value_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = chip(
            root.path(),
            "hwmon0",
            "platform/coretemp.0",
            &[
                ("name", "coretemp"),
                ("temp1_input", "40000"),
                ("temp1_label", "Core 0"),
            ],
        );
        let mut hwmon = Hwmon::new(&sys_paths(&root));
        let labels = [("chip", "platform_coretemp_0"), ("sensor", "temp1")];
        let set = scrape(&mut hwmon);
        assert_eq!(set.value("node_hwmon_temp_celsius", &labels), Some(40.0));

        // Labels, names and the device link are not read again; values are.
        std::fs::remove_file(dir.join("temp1_label")).unwrap();
        std::fs::remove_file(dir.join("name")).unwrap();
        std::fs::remove_file(dir.join("device")).unwrap();
        std::fs::write(dir.join("temp1_input"), "41000\n").unwrap();
        let set = scrape(&mut hwmon);
        assert_eq!(set.value("node_hwmon_temp_celsius", &labels), Some(41.0));
        let label = [("label", "Core 0"), ("sensor", "temp1")];
        assert_eq!(set.value("node_hwmon_sensor_label", &label), Some(1.0));
        let name = [("chip_name", "coretemp")];
        assert_eq!(set.value("node_hwmon_chip_names", &name), Some(1.0));

        // A re-registered chip (a new class/hwmon entry) is scanned afresh: with no
        // device link and no name left, it is called after its directory.
        let link = root.path().join("class/hwmon/hwmon0");
        // Made beside the old link and renamed over it, so the new entry's inode is
        // allocated while the old one still exists and cannot be the same number.
        let fresh = link.with_extension("new");
        symlink(&dir, &fresh).unwrap();
        std::fs::rename(&fresh, &link).unwrap();
        let set = scrape(&mut hwmon);
        let labels = [("chip", "hwmon0"), ("sensor", "temp1")];
        assert_eq!(set.value("node_hwmon_temp_celsius", &labels), Some(41.0));
        assert!(set.get("node_hwmon_sensor_label").is_none());
        assert!(set.get("node_hwmon_chip_names").is_none());
    }

    #[test]
    fn a_vanished_file_has_the_chip_listed_again() {
        let root = tempfile::tempdir().unwrap();
        let dir = chip(
            root.path(),
            "hwmon3",
            "",
            &[
                ("name", "acme"),
                ("temp1_input", "1000"),
                ("temp2_input", "2000"),
            ],
        );
        let mut hwmon = Hwmon::new(&sys_paths(&root));
        assert_eq!(
            scrape(&mut hwmon)
                .get("node_hwmon_temp_celsius")
                .unwrap()
                .len(),
            2
        );
        std::fs::remove_file(dir.join("temp2_input")).unwrap();
        std::fs::write(dir.join("temp3_input"), "3000\n").unwrap();
        let set = scrape(&mut hwmon);
        assert_eq!(set.get("node_hwmon_temp_celsius").unwrap().len(), 1);
        assert!(hwmon.chips[0].stale);
        let set = scrape(&mut hwmon);
        let temp3 = [("chip", "acme"), ("sensor", "temp3")];
        assert_eq!(set.value("node_hwmon_temp_celsius", &temp3), Some(3.0));
        assert!(!hwmon.chips[0].stale);
    }

    #[test]
    fn unreadable_sensors_and_chips_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let dir = chip(
            root.path(),
            "hwmon0",
            "platform/nct6775.656",
            &[
                ("name", "nct6798"),
                ("temp1_input", "36000"),
                ("temp1_max", "not a number"),
                ("temp2_label", "CPUTIN"),
                ("fan1_min", "300"),
            ],
        );
        // A read error (EISDIR here; EAGAIN, EIO, ENODATA on a real chip).
        std::fs::create_dir(dir.join("fan1_input")).unwrap();
        std::fs::create_dir(dir.join("in0_input")).unwrap();
        // A chip going away, and what is not a chip.
        let class = root.path().join("class/hwmon");
        symlink(root.path().join("gone"), class.join("hwmon1")).unwrap();
        std::fs::write(class.join("hwmon2"), "").unwrap();
        let set = scrape(&mut Hwmon::new(&sys_paths(&root)));
        let chip = "platform_nct6775_656";
        let value = |name, sensor| set.value(name, &[("chip", chip), ("sensor", sensor)]);
        assert_eq!(value("node_hwmon_temp_celsius", "temp1"), Some(36.0));
        assert!(set.get("node_hwmon_temp_max_celsius").is_none());
        assert!(set.get("node_hwmon_fan_rpm").is_none());
        assert_eq!(value("node_hwmon_fan_min_rpm", "fan1"), Some(300.0));
        // in0 has nothing that reads: no series at all.
        assert!(set.get("node_hwmon_in_volts").is_none());
        // temp2 has only its label, which is still exported.
        let label = [("chip", chip), ("label", "CPUTIN"), ("sensor", "temp2")];
        assert_eq!(set.value("node_hwmon_sensor_label", &label), Some(1.0));
        assert_eq!(set.get("node_hwmon_chip_names").unwrap().len(), 1);
    }

    #[test]
    fn chips_sharing_a_device_and_gpu_clocks_on_the_fixture_tree() {
        let set = scrape(&mut Hwmon::new(&fixture_paths()));
        // hwmon8..10 all have device -> ieee80211/phy0: 1.5 served one of them (and
        // logged "collected before"); 1.12 suffixes each chip with its name.
        let temps: Vec<(String, f64)> = set
            .get("node_hwmon_temp_celsius")
            .unwrap()
            .samples()
            .into_iter()
            .filter(|s| s.labels[0].1.starts_with("ieee80211_phy0"))
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        assert_eq!(
            temps,
            [
                ("ieee80211_phy0_mt7996_phy0_0".to_string(), 55.0),
                ("ieee80211_phy0_mt7996_phy0_1".to_string(), 56.0),
                ("ieee80211_phy0_mt7996_phy0_2".to_string(), 57.0),
            ]
        );
        let name = [
            ("chip", "ieee80211_phy0_mt7996_phy0_1"),
            ("chip_name", "mt7996_phy0_1"),
        ];
        assert_eq!(set.value("node_hwmon_chip_names", &name), Some(1.0));
        // The GPU: freq1 is labelled (sclk), freq2 is not and gives nothing.
        let clocks = set.get("node_hwmon_freq_freq_mhz").unwrap();
        assert_eq!(clocks.help, "Hardware monitor for GPU frequency in MHz");
        assert_eq!(clocks.len(), 1);
        assert_eq!(
            set.value(
                "node_hwmon_freq_freq_mhz",
                &[("chip", GPU_CHIP), ("sensor", "sclk")]
            ),
            Some(1350.0)
        );
        let label = [("chip", GPU_CHIP), ("label", "sclk"), ("sensor", "freq1")];
        assert_eq!(set.value("node_hwmon_sensor_label", &label), Some(1.0));
    }

    fn filtered(root: &tempfile::TempDir, flags: &[&str]) -> MetricSet {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(std::iter::once("t").chain(flags.iter().copied()))
            .unwrap();
        let paths = sys_paths(root);
        let mut hwmon = Hwmon::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
        .unwrap();
        scrape(&mut hwmon)
    }

    #[test]
    fn chip_and_sensor_filters() {
        let root = tempfile::tempdir().unwrap();
        chip(
            root.path(),
            "hwmon0",
            "platform/coretemp.0",
            &[
                ("name", "coretemp"),
                ("temp1_input", "40000"),
                ("temp2_input", "41000"),
            ],
        );
        chip(
            root.path(),
            "hwmon1",
            "",
            &[("name", "cpu_thermal"), ("temp1_input", "50000")],
        );
        let chips = |set: &MetricSet| -> Vec<(String, String)> {
            set.get("node_hwmon_temp_celsius")
                .map(|f| {
                    f.samples()
                        .into_iter()
                        .map(|s| (s.labels[0].1.clone(), s.labels[1].1.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let pair = |c: &str, s: &str| (c.to_string(), s.to_string());
        assert_eq!(chips(&filtered(&root, &[])).len(), 3);
        let set = filtered(&root, &["--collector.hwmon.chip-exclude=^platform_"]);
        assert_eq!(chips(&set), [pair("cpu_thermal", "temp1")]);
        assert!(set.get("node_hwmon_chip_names").unwrap().len() == 1);
        let set = filtered(&root, &["--collector.hwmon.chip-include=coretemp"]);
        assert_eq!(chips(&set).len(), 2);
        // Sensors match as <chip>;<sensor>.
        let set = filtered(
            &root,
            &["--collector.hwmon.sensor-exclude=^platform_coretemp_0;temp2$"],
        );
        assert_eq!(
            chips(&set),
            [
                pair("cpu_thermal", "temp1"),
                pair("platform_coretemp_0", "temp1")
            ]
        );
        let set = filtered(&root, &["--collector.hwmon.sensor-include=;temp2$"]);
        assert_eq!(chips(&set), [pair("platform_coretemp_0", "temp2")]);
        // Both given: both apply, as node_exporter's deviceFilter does.
        let set = filtered(
            &root,
            &[
                "--collector.hwmon.sensor-include=temp1",
                "--collector.hwmon.sensor-exclude=^cpu_thermal",
            ],
        );
        assert_eq!(chips(&set), [pair("platform_coretemp_0", "temp1")]);
    }

    #[test]
    fn colliding_chips_get_their_name_or_entry_as_suffix() {
        let root = tempfile::tempdir().unwrap();
        // No device link: the base is the name file; all three say cpu_thermal, so
        // the name does not tell them apart and the entry name does.
        chip(
            root.path(),
            "hwmon1",
            "",
            &[("name", "CPU Thermal"), ("temp1_input", "2000")],
        );
        chip(
            root.path(),
            "hwmon10",
            "",
            &[("name", "cpu_thermal"), ("temp1_input", "3000")],
        );
        chip(
            root.path(),
            "hwmon2",
            "",
            &[("name", "cpu_thermal"), ("temp1_input", "4000")],
        );
        // Two chips of one device with different names, and one chip of another
        // device that is alone with its label: left alone.
        chip(
            root.path(),
            "hwmon3",
            "platform/asus-nb-wmi",
            &[("name", "asus"), ("pwm1_enable", "2")],
        );
        chip(
            root.path(),
            "hwmon4",
            "platform/asus-nb-wmi",
            &[("name", "asus_custom_fan_curve"), ("pwm1_enable", "1")],
        );
        let set = scrape(&mut Hwmon::new(&sys_paths(&root)));
        let values = |family: &str| -> Vec<(String, f64)> {
            set.get(family)
                .unwrap()
                .samples()
                .into_iter()
                .map(|s| (s.labels[0].1.clone(), s.value))
                .collect()
        };
        assert_eq!(
            values("node_hwmon_temp_celsius"),
            [
                ("cpu_thermal_hwmon1".to_string(), 2.0),
                ("cpu_thermal_hwmon10".to_string(), 3.0),
                ("cpu_thermal_hwmon2".to_string(), 4.0),
            ]
        );
        assert_eq!(
            values("node_hwmon_pwm_enable"),
            [
                ("platform_asus_nb_wmi_asus".to_string(), 2.0),
                (
                    "platform_asus_nb_wmi_asus_custom_fan_curve".to_string(),
                    1.0
                ),
            ]
        );
    }

    #[test]
    fn a_label_that_still_collides_keeps_the_first_chip() {
        let root = tempfile::tempdir().unwrap();
        // hwmon1 and hwmon2 share the device platform/soc and become
        // platform_soc_thermal and platform_soc_fan; hwmon0 (no device link) is alone
        // with its base "platform_soc_thermal" and keeps it: one label, two chips.
        chip(
            root.path(),
            "hwmon0",
            "",
            &[("name", "platform_soc_thermal"), ("temp1_input", "1000")],
        );
        chip(
            root.path(),
            "hwmon1",
            "platform/soc",
            &[("name", "thermal"), ("temp1_input", "2000")],
        );
        chip(
            root.path(),
            "hwmon2",
            "platform/soc",
            &[("name", "fan"), ("temp1_input", "3000")],
        );
        let set = scrape(&mut Hwmon::new(&sys_paths(&root)));
        let listed: Vec<(String, f64)> = set
            .get("node_hwmon_temp_celsius")
            .unwrap()
            .samples()
            .into_iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        assert_eq!(
            listed,
            [
                ("platform_soc_fan".to_string(), 3.0),
                ("platform_soc_thermal".to_string(), 1.0),
            ]
        );
    }

    #[test]
    fn device_files_count_and_win_and_a_bare_file_renames_input() {
        let root = tempfile::tempdir().unwrap();
        chip(
            root.path(),
            "hwmon0",
            "platform/coretemp.0",
            &[
                ("temp2_input", "44000"),
                ("temp4", "5000"),
                ("temp4_input", "6000"),
            ],
        );
        let device = root.path().join("devices/platform/coretemp.0");
        std::fs::write(device.join("temp2_input"), "99000\n").unwrap();
        std::fs::write(device.join("temp9_input"), "3000\n").unwrap();
        let set = scrape(&mut Hwmon::new(&sys_paths(&root)));
        let value =
            |name, sensor| set.value(name, &[("chip", "platform_coretemp_0"), ("sensor", sensor)]);
        assert_eq!(value("node_hwmon_temp_celsius", "temp2"), Some(99.0));
        assert_eq!(value("node_hwmon_temp_celsius", "temp9"), Some(3.0));
        assert_eq!(value("node_hwmon_temp_celsius", "temp4"), Some(5.0));
        assert_eq!(value("node_hwmon_temp_input_celsius", "temp4"), Some(6.0));
        // No name file: no chip_names series.
        assert!(set.get("node_hwmon_chip_names").is_none());
    }

    #[test]
    fn no_hwmon_class_is_no_data_like_node_exporter() {
        let root = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        let err = Hwmon::new(&sys_paths(&root))
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        assert!(out.families().is_empty());
    }

    #[test]
    fn this_host_scrapes_without_error() {
        // Most build machines have no hwmon chips; those that do must read cleanly.
        let mut hwmon = Hwmon::new(&Paths::default());
        for _ in 0..2 {
            let mut set = MetricSet::new();
            let result = hwmon.update(&mut Sources::default(), &mut set);
            if std::fs::metadata("/sys/class/hwmon").is_err() {
                assert!(matches!(result, Err(CollectError::NoData(_))));
                assert!(set.families().is_empty());
            } else {
                result.unwrap();
            }
        }
    }

    #[test]
    fn splits_file_names_like_node_exporters_regex() {
        let cases = [
            ("temp1_input", Some(("temp", 1, "input"))),
            ("temp1_crit_alarm", Some(("temp", 1, "crit_alarm"))),
            ("in0_input", Some(("in", 0, "input"))),
            ("pwm1", Some(("pwm", 1, ""))),
            ("temp01_max", Some(("temp", 1, "max"))),
            ("update_interval", Some(("update_interval", 0, ""))),
            ("beep_enable", Some(("beep_enable", 0, ""))),
            ("power", Some(("power", 0, ""))),
            ("temp_x1y", Some(("temp", 0, "x1y"))),
            ("fan_1", Some(("fan_", 1, ""))),
            ("temp1_", None),
            ("temp1x", None),
            ("1temp", None),
            ("temp99999999999999999999_input", None),
        ];
        for (name, expected) in cases {
            assert_eq!(explode_sensor_filename(name), expected, "{name}");
        }
    }

    #[test]
    fn cleans_names_like_node_exporter() {
        assert_eq!(clean_metric_name(b"coretemp.0\n"), "coretemp_0");
        assert_eq!(clean_metric_name(b"0000:00:18.3"), "0000:00:18_3");
        assert_eq!(clean_metric_name(b"  CPU Thermal  "), "cpu_thermal");
        assert_eq!(clean_metric_name("aÄ\u{130}x".as_bytes()), "a_ix");
        assert_eq!(clean_metric_name(b"a\xff\xfeb"), "a__b");
        assert_eq!(clean_metric_name(b"__"), "");
    }

    #[test]
    fn labels_keep_spaces_and_replace_invalid_utf8() {
        assert_eq!(label_text(b"Core 0\n"), "Core 0");
        assert_eq!(label_text(b"\n  Core 0 \t\n\n"), "  Core 0 \t");
        assert_eq!(label_text(b"Lab\xff\xfeel\n"), "Lab\u{FFFD}el");
        assert_eq!(label_text(b"\n"), "");
        assert_eq!(label_text(&[b'a'; 200]), "a".repeat(128));
    }

    #[test]
    fn files_map_to_node_exporters_families() {
        let family = |t, e| {
            let spec = family_for(t, e, false).unwrap();
            (spec.name, spec.kind, spec.scale)
        };
        use MetricKind::{Counter, Gauge};
        use Scale::{Micro, Milli, One};
        let s = |name: &str| name.to_string();
        assert_eq!(
            family("temp", "input"),
            (s("node_hwmon_temp_celsius"), Gauge, Milli)
        );
        assert_eq!(
            family("temp", ""),
            (s("node_hwmon_temp_celsius"), Gauge, Milli)
        );
        assert_eq!(
            family("temp", "crit_alarm"),
            (s("node_hwmon_temp_crit_alarm_celsius"), Gauge, Milli)
        );
        assert_eq!(
            family("temp", "alarm"),
            (s("node_hwmon_temp_alarm"), Gauge, One)
        );
        assert_eq!(
            family("temp", "type"),
            (s("node_hwmon_temp_type"), Gauge, One)
        );
        assert_eq!(
            family("temp", "beep"),
            (s("node_hwmon_temp_beep_enabled"), Gauge, One)
        );
        assert_eq!(
            family("in", "min"),
            (s("node_hwmon_in_min_volts"), Gauge, Milli)
        );
        assert_eq!(
            family("cpu", "vid"),
            (s("node_hwmon_cpu_vid_volts"), Gauge, Milli)
        );
        assert_eq!(
            family("curr", "input"),
            (s("node_hwmon_curr_amps"), Gauge, Milli)
        );
        assert_eq!(
            family("energy", "input"),
            (s("node_hwmon_energy_joule_total"), Counter, Micro)
        );
        assert_eq!(
            family("power", "average"),
            (s("node_hwmon_power_average_watt"), Gauge, Micro)
        );
        assert_eq!(
            family("power", "accuracy"),
            (s("node_hwmon_power_accuracy"), Gauge, Micro)
        );
        assert_eq!(
            family("power", "average_interval_max"),
            (
                s("node_hwmon_power_average_interval_max_seconds"),
                Gauge,
                Milli
            )
        );
        assert_eq!(
            family("humidity", "input"),
            (s("node_hwmon_humidity"), Gauge, Micro)
        );
        assert_eq!(
            family("fan", "target"),
            (s("node_hwmon_fan_target_rpm"), Gauge, One)
        );
        assert_eq!(family("fan", "div"), (s("node_hwmon_fan_div"), Gauge, One));
        assert_eq!(
            family("fan", "fault"),
            (s("node_hwmon_fan_fault"), Gauge, One)
        );
        assert_eq!(family("pwm", ""), (s("node_hwmon_pwm"), Gauge, One));
        assert_eq!(
            family("intrusion", "alarm"),
            (s("node_hwmon_intrusion_alarm"), Gauge, One)
        );
        let bare = family_for("temp", "input", true).unwrap();
        assert_eq!(bare.name, "node_hwmon_temp_input_celsius");
        assert_eq!(bare.help, "Hardware monitor for temperature (input)");
        assert_eq!(
            family_for("pwm", "", false).unwrap().help,
            "Hardware monitor pwm element "
        );
        assert!(family_for("temp", "label", false).is_none());
        // node_exporter's arithmetic, to the last bit.
        assert_eq!(Scale::Milli.apply(12040.0), 12.040000000000001);
        assert_eq!(Scale::Micro.apply(95000.0), 0.095);
    }

    #[test]
    fn values_parse_like_go() {
        assert_eq!(parse_go_float("-273150"), Some(-273150.0));
        assert_eq!(parse_go_float("1.5"), Some(1.5));
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("1e400"), None);
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("PM1"), None);
    }
}
