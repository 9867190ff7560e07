//! What `scan` prints: listings (one [`Section`] per kind of device — today the
//! I2C buses), a sensor file for each identified chip that has a driver, and the
//! `nodes.conf` entries that schedule them. Only text; writing the files is the
//! caller's.
//!
//! A section is a titled table: the I2C buses, then the IIO devices and the 1-Wire
//! thermometers the kernel drives ([`Report::add_sysfs`]), whose sources (`iio:…`,
//! `w1:*`) are further entries of [`Report::entries`] (no file: they need none).

use std::fmt::Write as _;

use std::path::PathBuf;

use super::identify::{Identity, KnownChip};
use crate::config::check_device;
use crate::sysfs_sensors::{IioDevice, SysfsError};

/// What `IioDevice::all` gives: each device found, opened or not.
pub type IioListing = Result<Vec<(String, Result<IioDevice, SysfsError>)>, SysfsError>;
/// What `W1Probes::all` gives: (id, chip, file read) per thermometer.
pub type W1Listing = Result<Vec<(String, &'static str, PathBuf)>, SysfsError>;
use super::probe::{BusFailure, BusScan, Presence};

/// A titled table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Said instead of the table when it has no rows.
    pub empty: String,
}

impl Section {
    /// The title, then the columns aligned, two spaces apart (the last one not
    /// padded).
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.title);
        if self.rows.is_empty() {
            let _ = writeln!(out, "  {}", self.empty);
            return out;
        }
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::from(" ");
            for (index, cell) in row.iter().enumerate() {
                line.push(' ');
                line.push_str(cell);
                if index + 1 < columns {
                    let pad = widths[index] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad + 1));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A sensor file `scan` proposes: its name in the scripts directory and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorFile {
    pub name: String,
    pub text: String,
}

/// Everything `scan` found, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub sections: Vec<Section>,
    pub files: Vec<SensorFile>,
    /// `nodes.conf` entries for this node, in order (`i2c:<file>`).
    pub entries: Vec<String>,
    /// Buses that could not be scanned to the end.
    pub problems: usize,
}

impl Report {
    /// The I2C part: the listing of `scans` under `dev_root`, and a file and an
    /// entry per identified chip with a driver.
    pub fn from_i2c(dev_root: &str, scans: &[BusScan], more_buses: usize) -> Report {
        let files = sensor_files(scans);
        Report {
            sections: vec![i2c_section(dev_root, scans, more_buses)],
            entries: files.iter().map(|f| format!("i2c:{}", f.name)).collect(),
            files,
            problems: scans.iter().filter(|s| s.failure.is_some()).count(),
        }
    }

    /// Adds the kernel-driven devices under `sysfs_root`: a section listing the IIO
    /// devices (`iio` — each device, or why it cannot be read) and one listing the
    /// 1-Wire thermometers (`w1`), with an `iio:<name>` entry per readable device (its
    /// index when the name is shared or not a nodes.conf name) and one `w1:*` for
    /// every probe. A listing that failed as a whole is a row saying why.
    pub fn add_sysfs(&mut self, sysfs_root: &str, iio: IioListing, w1: W1Listing) {
        let mut rows = Vec::new();
        match iio {
            Ok(devices) => {
                let readable: Vec<&IioDevice> = devices
                    .iter()
                    .filter_map(|(_, d)| d.as_ref().ok())
                    .collect();
                for (entry, device) in &devices {
                    match device {
                        Ok(device) => {
                            rows.push(vec![
                                device.device().to_string(),
                                device.name().to_string(),
                                device.keys().join(", "),
                            ]);
                            let shared = readable
                                .iter()
                                .filter(|other| other.name() == device.name())
                                .count()
                                > 1;
                            let spec =
                                if shared || check_device(device.name(), "IIO device").is_err() {
                                    device.device().trim_start_matches("iio:device").to_string()
                                } else {
                                    device.name().to_string()
                                };
                            self.entries.push(format!("iio:{spec}"));
                        }
                        Err(error) => rows.push(vec![
                            entry.clone(),
                            "-".into(),
                            format!("not read: {error}"),
                        ]),
                    }
                }
            }
            Err(error) => rows.push(vec!["-".into(), "-".into(), format!("not listed: {error}")]),
        }
        self.sections.push(Section {
            title: format!(
                "IIO devices ({sysfs_root}/bus/iio/devices, read by the kernel's drivers):"
            ),
            header: vec!["DEVICE", "NAME", "VALUES"],
            rows,
            empty: "none".into(),
        });
        let mut rows = Vec::new();
        match w1 {
            Ok(probes) => {
                for (id, chip, file) in &probes {
                    rows.push(vec![
                        id.clone(),
                        chip.to_string(),
                        file.display().to_string(),
                    ]);
                }
                if !probes.is_empty() {
                    self.entries.push("w1:*".into());
                }
            }
            Err(error) => rows.push(vec!["-".into(), "-".into(), format!("not listed: {error}")]),
        }
        self.sections.push(Section {
            title: format!("1-Wire thermometers ({sysfs_root}/bus/w1/devices):"),
            header: vec!["ID", "CHIP", "FILE"],
            rows,
            empty: "none".into(),
        });
    }

    /// `node=entry,entry`, or `None` when there is nothing to schedule.
    pub fn nodes_line(&self, node: &str) -> Option<String> {
        (!self.entries.is_empty()).then(|| format!("{node}={}", self.entries.join(",")))
    }

    /// The sections, one after the other.
    pub fn listing(&self) -> String {
        self.sections
            .iter()
            .map(Section::render)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn i2c_section(dev_root: &str, scans: &[BusScan], more_buses: usize) -> Section {
    let mut rows = Vec::new();
    for scan in scans {
        let bus = format!("i2c-{}", scan.bus);
        for found in &scan.found {
            rows.push(vec![
                bus.clone(),
                format!("{:#04x}", found.address),
                describe(&found.presence),
            ]);
        }
        match &scan.failure {
            Some(BusFailure::Unusable(error)) => {
                rows.push(vec![
                    bus.clone(),
                    "-".into(),
                    format!("not scanned: {error}"),
                ]);
            }
            Some(failure) => rows.push(vec![bus.clone(), "-".into(), failure.to_string()]),
            None if scan.found.is_empty() => {
                rows.push(vec![bus.clone(), "-".into(), "no device answered".into()]);
            }
            None => {}
        }
    }
    if more_buses > 0 {
        rows.push(vec![
            "…".into(),
            "-".into(),
            format!(
                "{more_buses} more bus(es) not scanned (at most {} at once; name them with --bus)",
                super::probe::MAX_BUSES
            ),
        ]);
    }
    Section {
        title: format!(
            "I2C devices ({dev_root}/i2c-N, addresses 0x03-0x77 probed with a read as `i2cdetect -y -r` does):"
        ),
        header: vec!["BUS", "ADDRESS", "WHAT"],
        rows,
        empty: format!(
            "no I2C buses: no {dev_root}/i2c-N (is the bus enabled and the i2c-dev module loaded?)"
        ),
    }
}

fn describe(presence: &Presence) -> String {
    match presence {
        Presence::Held => "UU: held by a kernel driver, not probed".into(),
        Presence::Failed(error) => format!("probe failed: {error}"),
        Presence::Answered(Identity::Identified { chip, evidence }) => match chip.driver {
            Some(driver) => format!("{} ({evidence}): driver \"{driver}\"", chip.name),
            None => format!("{} ({evidence}): no sidecar driver", chip.name),
        },
        Presence::Answered(Identity::Maybe { chip, evidence }) => format!(
            "maybe {} ({evidence}, its power-on value; no id register to confirm){}",
            chip.name,
            try_driver(chip)
        ),
        Presence::Answered(Identity::Unknown { possibly }) if possibly.is_empty() => {
            "unknown device".into()
        }
        Presence::Answered(Identity::Unknown { possibly }) => format!(
            "unknown device; by its address possibly {} (identifying it takes a command write, not sent)",
            possibly
                .iter()
                .map(|chip| format!("{}{}", chip.name, try_driver(chip)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn try_driver(chip: &KnownChip) -> String {
    chip.driver
        .map(|driver| format!(" [driver \"{driver}\"]"))
        .unwrap_or_default()
}

/// A file per identified chip with a driver. Each gets the chip's name as its value
/// prefix (two sources writing `temperature_celsius` would clash: only the first
/// is written), with bus and address added when the chip is found more than once.
fn sensor_files(scans: &[BusScan]) -> Vec<SensorFile> {
    let identified: Vec<(u32, u16, &KnownChip, &str, &str)> = scans
        .iter()
        .flat_map(|scan| scan.found.iter().map(move |found| (scan.bus, found)))
        .filter_map(|(bus, found)| match &found.presence {
            Presence::Answered(Identity::Identified { chip, evidence }) => {
                let driver = chip.driver?;
                Some((bus, found.address, *chip, driver, evidence.as_str()))
            }
            _ => None,
        })
        .collect();
    identified
        .iter()
        .map(|&(bus, address, chip, driver, evidence)| {
            let slug = slug(chip.name);
            let unique = identified.iter().filter(|other| other.2 == chip).count() == 1;
            let prefix = if unique {
                format!("{slug}_")
            } else {
                format!("{slug}_i2c{bus}_{address:02x}_")
            };
            SensorFile {
                name: format!("{slug}-i2c{bus}-{address:02x}.toml"),
                text: format!(
                    "# {name} on i2c-{bus} at {address:#04x}, identified by `edge-sidecar scan` ({evidence}).\n\
                     # Its values, and the driver's options: SENSORS.md, driver \"{driver}\".\n\
                     bus = {bus}\n\
                     address = {address:#04x}\n\
                     driver = \"{driver}\"\n\
                     prefix = \"{prefix}\"\n",
                    name = chip.name,
                ),
            }
        })
        .collect()
}

/// `BMP390` → `bmp390`: lower case, anything but letters and digits dropped.
fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_align_their_columns_and_say_when_empty() {
        let section = Section {
            title: "Things:".into(),
            header: vec!["A", "BB", "C"],
            rows: vec![
                vec!["long".into(), "x".into(), "last column".into()],
                vec!["s".into(), "yyy".into(), "z".into()],
            ],
            empty: "nothing".into(),
        };
        assert_eq!(
            section.render(),
            "Things:\n  A     BB   C\n  long  x    last column\n  s     yyy  z\n"
        );
        let empty = Section {
            rows: vec![],
            ..section
        };
        assert_eq!(empty.render(), "Things:\n  nothing\n");
    }

    #[test]
    fn slugs_are_names_in_lower_case() {
        assert_eq!(slug("BMP390"), "bmp390");
        assert_eq!(slug("HTU21D/Si7021/SHT21"), "htu21dsi7021sht21");
    }
}
