//! `node_power_supply_*` from `<sysfs>/class/power_supply/<supply>/`, named, scaled
//! and labelled as node_exporter 1.12's powersupplyclass collector (procfs
//! `PowerSupplyClass`) does it: counts as read (`capacity`, `online`, `cycle_count`
//! as `cyclecount`, `time_to_*_now` as seconds), micro-units (µA, µV, µWh, µAh, µW)
//! divided by 10⁶, tenths of °C divided by 10, and the text attributes as labels of
//! `node_power_supply_info` (only those with a non-empty value, made valid UTF-8).
//!
//! Each attribute is read with procfs's `SysReadFile` (one read of at most 128 bytes,
//! trimmed); numbers are parsed as Go's `strconv.ParseInt(s, 0, 64)` (so `0x10` is
//! 16), and one that does not parse fails the collector with the file named. A file
//! that answers ENOENT, EINVAL, ENODEV or EOPNOTSUPP (a fuel gauge that is not ready,
//! a USB port with nothing plugged in) is left out, as procfs leaves it out; any other
//! read error fails the collector. No `class/power_supply` (most servers and VMs) is
//! nothing to report (ErrNoData).
//!
//! `--collector.powersupply.ignored-supplies` (default `^$`) drops the supplies whose
//! name it matches anywhere (Go's unanchored `MatchString`; an empty pattern matches
//! every name).
//!
//! Unlike node_exporter, only the attributes that become series are read: procfs also
//! reads every other regular file of the directory (`uevent`, `charge_*_threshold`,
//! the `*_avg` values it parses but node_exporter never exports), so there a failing
//! read of one of those fails the whole collector, and here it cannot. Likewise an
//! ignored supply is not read at all (procfs reads every supply before node_exporter
//! drops the ignored ones, so a broken ignored supply still fails it there).

use std::io;
use std::path::{Path, PathBuf};

use regex_lite::Regex;

use crate::collector::{Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::{go_valid_utf8, parse_go_int, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

const IGNORED_FLAG: &str = "collector.powersupply.ignored-supplies";

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "powersupplyclass",
    enabled_by_default: true,
    args: || {
        vec![clap::Arg::new(IGNORED_FLAG)
            .long(IGNORED_FLAG)
            .default_value("^$")
            .help("Regexp of power supplies to ignore for powersupplyclass collector.")]
    },
    build: |ctx| {
        let pattern = ctx.string(IGNORED_FLAG).unwrap_or_else(|| "^$".into());
        let ignored = Regex::new(&pattern).map_err(|e| {
            ConfigError::new(
                format!("--{IGNORED_FLAG}"),
                format!("not a valid regular expression: {e}"),
            )
        })?;
        Ok(Box::new(PowerSupplyClass::new(ctx.paths, ignored)))
    },
};

/// How a numeric attribute's reading becomes the exported value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    One,
    /// `/ 1e6`: µA, µV, µW, µWh, µAh to A, V, W, Wh, Ah.
    Micro,
    /// `/ 10`: tenths of a degree Celsius.
    Tenth,
}

/// `(file, family suffix, scale)` of every numeric attribute node_exporter exports.
const NUMERIC: [(&str, &str, Scale); 49] = [
    ("authentic", "authentic", Scale::One),
    ("calibrate", "calibrate", Scale::One),
    ("capacity", "capacity", Scale::One),
    ("capacity_alert_max", "capacity_alert_max", Scale::One),
    ("capacity_alert_min", "capacity_alert_min", Scale::One),
    ("cycle_count", "cyclecount", Scale::One),
    ("online", "online", Scale::One),
    ("present", "present", Scale::One),
    ("time_to_empty_now", "time_to_empty_seconds", Scale::One),
    ("time_to_full_now", "time_to_full_seconds", Scale::One),
    ("current_boot", "current_boot", Scale::Micro),
    ("current_max", "current_max", Scale::Micro),
    ("current_now", "current_ampere", Scale::Micro),
    ("energy_empty", "energy_empty", Scale::Micro),
    ("energy_empty_design", "energy_empty_design", Scale::Micro),
    ("energy_full", "energy_full", Scale::Micro),
    ("energy_full_design", "energy_full_design", Scale::Micro),
    ("energy_now", "energy_watthour", Scale::Micro),
    ("voltage_boot", "voltage_boot", Scale::Micro),
    ("voltage_max", "voltage_max", Scale::Micro),
    ("voltage_max_design", "voltage_max_design", Scale::Micro),
    ("voltage_min", "voltage_min", Scale::Micro),
    ("voltage_min_design", "voltage_min_design", Scale::Micro),
    ("voltage_now", "voltage_volt", Scale::Micro),
    ("voltage_ocv", "voltage_ocv", Scale::Micro),
    ("charge_control_limit", "charge_control_limit", Scale::Micro),
    (
        "charge_control_limit_max",
        "charge_control_limit_max",
        Scale::Micro,
    ),
    ("charge_counter", "charge_counter", Scale::Micro),
    ("charge_empty", "charge_empty", Scale::Micro),
    ("charge_empty_design", "charge_empty_design", Scale::Micro),
    ("charge_full", "charge_full", Scale::Micro),
    ("charge_full_design", "charge_full_design", Scale::Micro),
    ("charge_now", "charge_ampere", Scale::Micro),
    ("charge_term_current", "charge_term_current", Scale::Micro),
    (
        "constant_charge_current",
        "constant_charge_current",
        Scale::Micro,
    ),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        Scale::Micro,
    ),
    (
        "constant_charge_voltage",
        "constant_charge_voltage",
        Scale::Micro,
    ),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        Scale::Micro,
    ),
    ("precharge_current", "precharge_current", Scale::Micro),
    ("input_current_limit", "input_current_limit", Scale::Micro),
    ("power_now", "power_watt", Scale::Micro),
    ("temp", "temp_celsius", Scale::Tenth),
    ("temp_alert_max", "temp_alert_max_celsius", Scale::Tenth),
    ("temp_alert_min", "temp_alert_min_celsius", Scale::Tenth),
    ("temp_ambient", "temp_ambient_celsius", Scale::Tenth),
    ("temp_ambient_max", "temp_ambient_max_celsius", Scale::Tenth),
    ("temp_ambient_min", "temp_ambient_min_celsius", Scale::Tenth),
    ("temp_max", "temp_max_celsius", Scale::Tenth),
    ("temp_min", "temp_min_celsius", Scale::Tenth),
];

/// The text attributes that label `node_power_supply_info`, in label name order
/// (`power_supply`, the supply's name, goes between `model_name` and `scope`).
const TEXT: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// One supply as read this scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerSupply {
    pub name: String,
    /// Index into [`NUMERIC`] and the raw reading.
    numbers: Vec<(usize, i64)>,
    /// Index into [`TEXT`] and the value; empty values are not kept.
    texts: Vec<(usize, String)>,
}

pub struct PowerSupplyClass {
    class_dir: PathBuf,
    ignored: Regex,
    /// The family name and help of each [`NUMERIC`] entry, built once for the life
    /// of the process (so a scrape allocates no names).
    families: Vec<(&'static str, &'static str)>,
}

/// Whether procfs leaves a file that failed to read out instead of failing.
fn is_skipped(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
        || matches!(
            error.raw_os_error(),
            Some(libc::EINVAL | libc::ENODEV | libc::EOPNOTSUPP)
        )
}

/// Reads the supply at `path` (entry `name` of the class directory).
pub fn read_supply(path: &Path, name: &str) -> Result<PowerSupply, CollectError> {
    let listing = std::fs::read_dir(path).map_err(|e| CollectError::read(path, e))?;
    let dir = AttributeDir::open(path).map_err(|e| CollectError::read(path, e))?;
    let mut supply = PowerSupply {
        name: name.to_string(),
        numbers: Vec::new(),
        texts: Vec::new(),
    };
    for entry in listing {
        let entry = entry.map_err(|e| CollectError::read(path, e))?;
        // procfs reads regular files only: not `device`, `subsystem`, `power/`, `hwmon3/`.
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let file_name = entry.file_name();
        let Some(file) = file_name.to_str() else {
            continue;
        };
        let numeric = NUMERIC.iter().position(|(f, _, _)| *f == file);
        let text = TEXT.iter().position(|f| *f == file);
        if numeric.is_none() && text.is_none() {
            continue;
        }
        let value = match dir.read_sys_file(file) {
            Ok(value) => value,
            Err(e) if is_skipped(&e) => continue,
            Err(e) => return Err(CollectError::read(&dir.path_of(file), e)),
        };
        if let Some(index) = numeric {
            let parsed = std::str::from_utf8(&value).ok().and_then(parse_go_int);
            let Some(number) = parsed else {
                return Err(CollectError::parse(
                    &dir.path_of(file),
                    1,
                    format!("not an integer: {:?}", String::from_utf8_lossy(&value)),
                ));
            };
            supply.numbers.push((index, number));
        } else if let Some(index) = text {
            if !value.is_empty() {
                supply.texts.push((index, go_valid_utf8(&value)));
            }
        }
    }
    supply.numbers.sort_unstable_by_key(|(index, _)| *index);
    supply.texts.sort_unstable_by_key(|(index, _)| *index);
    Ok(supply)
}

impl PowerSupplyClass {
    pub fn new(paths: &Paths, ignored: Regex) -> Self {
        PowerSupplyClass {
            class_dir: paths.sys("class/power_supply"),
            ignored,
            families: NUMERIC
                .iter()
                .map(|(_, suffix, _)| {
                    let name = format!("node_power_supply_{suffix}");
                    let help = format!("{suffix} value of /sys/class/power_supply/<power_supply>.");
                    let name: &'static str = Box::leak(name.into_boxed_str());
                    let help: &'static str = Box::leak(help.into_boxed_str());
                    (name, help)
                })
                .collect(),
        }
    }

    /// Every supply not ignored, in name order.
    pub fn read(&self) -> Result<Vec<PowerSupply>, CollectError> {
        let entries = std::fs::read_dir(&self.class_dir).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CollectError::NoData(format!("{}: {e}", self.class_dir.display()))
            } else {
                CollectError::read(&self.class_dir, e)
            }
        })?;
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.class_dir, e))?;
            let name = go_valid_utf8(entry.file_name().as_encoded_bytes());
            if !self.ignored.is_match(&name) {
                names.push(name);
            }
        }
        names.sort();
        names
            .iter()
            .map(|name| read_supply(&self.class_dir.join(name), name))
            .collect()
    }

    /// Appends the families; series sorted as node_exporter sorts them.
    pub fn record(&self, supplies: &[PowerSupply], out: &mut MetricSet) {
        for supply in supplies {
            let label = [("power_supply", supply.name.as_str())];
            for &(index, raw) in &supply.numbers {
                let value = match NUMERIC[index].2 {
                    Scale::One => raw as f64,
                    Scale::Micro => raw as f64 / 1e6,
                    Scale::Tenth => raw as f64 / 10.0,
                };
                let (name, help) = self.families[index];
                out.family(name, help, MetricKind::Gauge)
                    .push(&label, value);
            }
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(supply.texts.len() + 1);
            let mut name_placed = false;
            for (index, value) in &supply.texts {
                let label = TEXT[*index];
                if !name_placed && label > "power_supply" {
                    labels.push(("power_supply", &supply.name));
                    name_placed = true;
                }
                labels.push((label, value));
            }
            if !name_placed {
                labels.push(("power_supply", &supply.name));
            }
            out.family(
                "node_power_supply_info",
                "info of /sys/class/power_supply/<power_supply>.",
                MetricKind::Gauge,
            )
            .push(&labels, 1.0);
        }
        out.sort_series();
    }
}

impl Collector for PowerSupplyClass {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let supplies = self.read()?;
        self.record(&supplies, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    fn collector(paths: &Paths, ignored: &str) -> PowerSupplyClass {
        PowerSupplyClass::new(paths, Regex::new(ignored).unwrap())
    }

    fn scrape(collector: &mut PowerSupplyClass) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    const FIXTURE_OUTPUT: &str = "\
# HELP node_power_supply_capacity capacity value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_capacity gauge
node_power_supply_capacity{power_supply=\"BAT0\"} 76
# HELP node_power_supply_current_ampere current_ampere value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_current_ampere gauge
node_power_supply_current_ampere{power_supply=\"ucsi-source-psy-USBC000:001\"} 1.5
# HELP node_power_supply_current_max current_max value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_current_max gauge
node_power_supply_current_max{power_supply=\"ucsi-source-psy-USBC000:001\"} 3
# HELP node_power_supply_cyclecount cyclecount value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_cyclecount gauge
node_power_supply_cyclecount{power_supply=\"BAT0\"} 143
# HELP node_power_supply_energy_full energy_full value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_energy_full gauge
node_power_supply_energy_full{power_supply=\"BAT0\"} 44.87
# HELP node_power_supply_energy_full_design energy_full_design value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_energy_full_design gauge
node_power_supply_energy_full_design{power_supply=\"BAT0\"} 45.03
# HELP node_power_supply_energy_watthour energy_watthour value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_energy_watthour gauge
node_power_supply_energy_watthour{power_supply=\"BAT0\"} 38.46
# HELP node_power_supply_info info of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_info gauge
node_power_supply_info{power_supply=\"AC\",type=\"Mains\"} 1
node_power_supply_info{power_supply=\"ucsi-source-psy-USBC000:001\",scope=\"Device\",type=\"USB\",usb_type=\"C [PD] PD_PPS\"} 1
node_power_supply_info{capacity_level=\"Normal\",manufacturer=\"SMP\",model_name=\"01AV445\",power_supply=\"BAT0\",serial_number=\"512\",status=\"Discharging\",technology=\"Li-poly\",type=\"Battery\"} 1
# HELP node_power_supply_online online value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_online gauge
node_power_supply_online{power_supply=\"AC\"} 1
node_power_supply_online{power_supply=\"ucsi-source-psy-USBC000:001\"} 1
# HELP node_power_supply_power_watt power_watt value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_power_watt gauge
node_power_supply_power_watt{power_supply=\"BAT0\"} 7.83
# HELP node_power_supply_present present value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_present gauge
node_power_supply_present{power_supply=\"BAT0\"} 1
# HELP node_power_supply_temp_celsius temp_celsius value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_temp_celsius gauge
node_power_supply_temp_celsius{power_supply=\"BAT0\"} 29.7
# HELP node_power_supply_voltage_max voltage_max value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_voltage_max gauge
node_power_supply_voltage_max{power_supply=\"ucsi-source-psy-USBC000:001\"} 20
# HELP node_power_supply_voltage_min voltage_min value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_voltage_min gauge
node_power_supply_voltage_min{power_supply=\"ucsi-source-psy-USBC000:001\"} 5
# HELP node_power_supply_voltage_min_design voltage_min_design value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_voltage_min_design gauge
node_power_supply_voltage_min_design{power_supply=\"BAT0\"} 11.52
# HELP node_power_supply_voltage_volt voltage_volt value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_voltage_volt gauge
node_power_supply_voltage_volt{power_supply=\"BAT0\"} 12.132
node_power_supply_voltage_volt{power_supply=\"ucsi-source-psy-USBC000:001\"} 19.98
";

    fn is_power_supply(name: &str) -> bool {
        name.starts_with("node_power_supply_")
    }

    #[test]
    fn the_fixture_matches_node_exporter_1_12() {
        let set = scrape(&mut collector(&fixture_paths(), "^$")).unwrap();
        // Checked against node_exporter 1.5 on the same tree: the same lines.
        assert_eq!(rendered(&set, is_power_supply), parse_text(FIXTURE_OUTPUT));
        let bat = [("power_supply", "BAT0")];
        assert_eq!(
            set.value("node_power_supply_energy_watthour", &bat),
            Some(38.46)
        );
        assert_eq!(
            set.value("node_power_supply_voltage_volt", &bat),
            Some(12.132)
        );
        assert_eq!(set.value("node_power_supply_capacity", &bat), Some(76.0));
        assert_eq!(
            set.value("node_power_supply_temp_celsius", &bat),
            Some(29.7)
        );
    }

    #[test]
    fn ignored_supplies_are_matched_anywhere_in_the_name() {
        let set = scrape(&mut collector(&fixture_paths(), "ucsi|^AC$")).unwrap();
        let info = set.get("node_power_supply_info").unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(
            set.value("node_power_supply_info", &[("power_supply", "BAT0")]),
            Some(1.0)
        );
        let set = scrape(&mut collector(&fixture_paths(), "")).unwrap();
        assert!(set.families().is_empty(), "an empty pattern matches all");
    }

    fn supply(root: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = root.join("class/power_supply").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        dir
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn values_parse_as_go_does_and_bad_ones_name_the_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = supply(
            root.path(),
            "hidpp_battery_0",
            &[
                ("capacity", b"0x1f\n"),
                ("type", b"Battery\n"),
                ("model_name", b"\n"),
                ("manufacturer", b"Logi\xfftech\n"),
                ("uevent", b"not a number\n"),
            ],
        );
        let mut collector = collector(&sys_paths(&root), "^$");
        let set = scrape(&mut collector).unwrap();
        let name = [("power_supply", "hidpp_battery_0")];
        assert_eq!(set.value("node_power_supply_capacity", &name), Some(31.0));
        let info = set.get("node_power_supply_info").unwrap().samples();
        assert_eq!(
            info[0].labels,
            [
                ("manufacturer".to_string(), "Logi\u{FFFD}tech".to_string()),
                ("power_supply".into(), "hidpp_battery_0".into()),
                ("type".into(), "Battery".into()),
            ]
        );
        std::fs::write(dir.join("cycle_count"), "many\n").unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(
            err.ends_with("hidpp_battery_0/cycle_count:1: not an integer: \"many\""),
            "{err}"
        );
    }

    #[test]
    fn skipped_read_errors_are_those_procfs_skips() {
        for errno in [libc::EINVAL, libc::ENODEV, libc::EOPNOTSUPP, libc::ENOENT] {
            assert!(is_skipped(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [libc::EIO, libc::ENODATA, libc::EACCES, libc::EAGAIN] {
            assert!(!is_skipped(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
    }

    #[test]
    fn no_class_is_no_data_and_an_empty_class_is_nothing() {
        let root = tempfile::tempdir().unwrap();
        let mut collector = collector(&sys_paths(&root), "^$");
        let err = scrape(&mut collector).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        std::fs::create_dir_all(root.path().join("class/power_supply")).unwrap();
        assert!(scrape(&mut collector).unwrap().families().is_empty());
    }

    #[test]
    fn the_flag_defaults_to_match_nothing() {
        let args = (SPEC.args)();
        assert_eq!(args[0].get_id(), IGNORED_FLAG);
        assert_eq!(args[0].get_default_values(), [std::ffi::OsStr::new("^$")]);
    }
}
