//! 1-Wire thermometers (`<sysfs>/bus/w1/devices/<ff>-<serial>`), driven by the
//! kernel's w1_therm: DS18S20 (family 10), DS1822 (22), DS18B20 (28), MAX31850
//! (3b), DS28EA00 (42). `w1:<id>` reads one, `w1:*` every thermometer on the bus
//! (none is an error, not an empty success). One `temperature_celsius` series per
//! probe, labelled `id="28-…"`.
//!
//! A probe is read from `temperature` (milli °C, newer kernels) when it exists,
//! else from `w1_slave`, whose first line is the scratchpad bytes, `crc=xx` and
//! `YES` when the CRC matched (`NO` is an error) and whose second line ends
//! `t=<milli °C>`. 85.000 °C is the scratchpad's power-on reset value (DS18B20
//! datasheet, "Temperature Register": +85 °C at power-up) and comes back when a
//! conversion did not run, e.g. under parasite power: an error, not a reading. The
//! −127 °C "disconnected" value belongs to Arduino's DallasTemperature library, not
//! the kernel (which fails the read instead), so it has no rule here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{list_dir, read_text, SysfsError, MAX_PROBES};
use crate::source_states::SourceValue;

/// Where 1-Wire devices are, under `--path.sysfs`.
const W1_DEVICES: &str = "bus/w1/devices";

/// The thermometer families w1_therm drives: family code and chip.
pub const THERMOMETER_FAMILIES: [(&str, &str); 5] = [
    ("10", "DS18S20"),
    ("22", "DS1822"),
    ("28", "DS18B20"),
    ("3b", "MAX31850"),
    ("42", "DS28EA00"),
];

/// The temperature register's power-on value, +85 °C, in milli °C.
pub const POWER_ON_RESET_MILLI_CELSIUS: i64 = 85_000;

/// The file a probe is read from.
#[derive(Debug, Clone, PartialEq)]
enum ProbeFile {
    Temperature(PathBuf),
    W1Slave(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
struct Probe {
    id: String,
    file: ProbeFile,
}

/// The probes a `w1:` source reads.
#[derive(Debug, Clone)]
pub struct W1Probes {
    dir: PathBuf,
    probes: Vec<Probe>,
}

/// `ff-xxxxxxxxxxxx`: a family code and a 48-bit serial, lowercase hex.
fn is_device_id(id: &str) -> bool {
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    id.split_once('-').is_some_and(|(family, serial)| {
        family.len() == 2 && serial.len() == 12 && hex(family) && hex(serial)
    })
}

fn is_thermometer(id: &str) -> bool {
    is_device_id(id) && THERMOMETER_FAMILIES.iter().any(|(f, _)| id.starts_with(f))
}

impl W1Probes {
    /// The probe `spec` (an id), or every thermometer for `*`.
    pub fn find(sysfs: &Path, spec: &str) -> Result<W1Probes, SysfsError> {
        let dir = sysfs.join(W1_DEVICES);
        let ids = if spec == "*" {
            let ids: Vec<String> = list_dir(&dir)?
                .into_iter()
                .filter(|id| is_thermometer(id))
                .collect();
            if ids.is_empty() {
                return Err(SysfsError::NoProbes { dir });
            }
            if ids.len() > MAX_PROBES {
                return Err(SysfsError::TooMany {
                    path: dir,
                    limit: MAX_PROBES,
                    what: "1-Wire thermometers",
                });
            }
            ids
        } else {
            if !is_device_id(spec) {
                return Err(SysfsError::Parse {
                    path: dir.join(spec),
                    text: spec.to_string(),
                    what: "a 1-Wire id (family-serial in lowercase hex: 28-00000a1b2c3d)",
                });
            }
            if !is_thermometer(spec) {
                return Err(SysfsError::NotAThermometer {
                    path: dir.join(spec),
                    family: spec.split('-').next().unwrap_or(spec).to_string(),
                });
            }
            // Named, so it must be there: --check says so rather than listing it.
            let probe_dir = dir.join(spec);
            std::fs::metadata(&probe_dir).map_err(|source| SysfsError::Read {
                path: probe_dir,
                source,
            })?;
            vec![spec.to_string()]
        };
        let probes = ids
            .into_iter()
            .map(|id| {
                let probe_dir = dir.join(&id);
                let temperature = probe_dir.join("temperature");
                let file = if temperature.is_file() {
                    ProbeFile::Temperature(temperature)
                } else {
                    ProbeFile::W1Slave(probe_dir.join("w1_slave"))
                };
                Probe { id, file }
            })
            .collect();
        Ok(W1Probes { dir, probes })
    }

    /// One `temperature_celsius` per probe; any probe that fails fails the read.
    pub fn read(&self) -> Result<Vec<SourceValue>, SysfsError> {
        self.probes
            .iter()
            .map(|probe| {
                let (path, milli) = match &probe.file {
                    ProbeFile::Temperature(path) => (path, parse_milli(path, &read_text(path)?)?),
                    ProbeFile::W1Slave(path) => (path, parse_w1_slave(path, &read_text(path)?)?),
                };
                if milli == POWER_ON_RESET_MILLI_CELSIUS {
                    return Err(SysfsError::PowerOnReset { path: path.clone() });
                }
                Ok(SourceValue {
                    key: "temperature_celsius".into(),
                    labels: vec![("id", probe.id.clone())],
                    value: milli as f64 / 1000.0,
                })
            })
            .collect()
    }

    /// Every thermometer on the bus (`edge-sidecar scan`): (id, chip, file read);
    /// none when there is no 1-Wire bus or no thermometer on it.
    pub fn all(sysfs: &Path) -> Result<Vec<(String, &'static str, PathBuf)>, SysfsError> {
        if !sysfs.join(W1_DEVICES).is_dir() {
            return Ok(Vec::new());
        }
        let probes = match W1Probes::find(sysfs, "*") {
            Ok(probes) => probes,
            Err(SysfsError::NoProbes { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        Ok(probes
            .probes
            .into_iter()
            .map(|probe| {
                let chip = THERMOMETER_FAMILIES
                    .iter()
                    .find(|(f, _)| probe.id.starts_with(f))
                    .map_or("?", |(_, chip)| chip);
                let (ProbeFile::Temperature(path) | ProbeFile::W1Slave(path)) = probe.file;
                (probe.id, chip, path)
            })
            .collect())
    }

    /// What a read reads, for `--check`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} probe(s) in {}", self.probes.len(), self.dir.display());
        for probe in &self.probes {
            let (ProbeFile::Temperature(path) | ProbeFile::W1Slave(path)) = &probe.file;
            let chip = THERMOMETER_FAMILIES
                .iter()
                .find(|(f, _)| probe.id.starts_with(f))
                .map_or("?", |(_, chip)| chip);
            let _ = write!(
                text,
                "\n      temperature_celsius{{id=\"{}\"}} ({chip}) = {} [milli °C] / 1000",
                probe.id,
                path.display()
            );
        }
        text
    }
}

/// A whole number of milli °C.
fn parse_milli(path: &Path, text: &str) -> Result<i64, SysfsError> {
    text.parse().map_err(|_| SysfsError::Parse {
        path: path.to_path_buf(),
        text: text.to_string(),
        what: "a temperature in milli °C",
    })
}

/// `w1_slave`: `… crc=da YES` then `… t=23125`.
fn parse_w1_slave(path: &Path, text: &str) -> Result<i64, SysfsError> {
    let bad = || SysfsError::Parse {
        path: path.to_path_buf(),
        text: text.to_string(),
        what: "w1_slave's two lines (… YES, … t=<milli °C>)",
    };
    let mut lines = text.lines().map(str::trim);
    let (Some(check), Some(reading)) = (lines.next(), lines.next()) else {
        return Err(bad());
    };
    let ending = check.rsplit(' ').next().unwrap_or_default();
    match ending {
        "YES" => {}
        "NO" => {
            return Err(SysfsError::CrcFailed {
                path: path.to_path_buf(),
                ending: ending.to_string(),
            })
        }
        _ => return Err(bad()),
    }
    let (_, milli) = reading.rsplit_once("t=").ok_or_else(bad)?;
    milli.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "bus/w1/devices";

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(D).join("w1_bus_master1")).unwrap();
        for (path, text) in files {
            let path = root.path().join(D).join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    const YES: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    const NO: &str = "72 01 4b 46 7f ff 0e 10 57 : crc=ff NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    const RESET: &str =
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";

    fn read(root: &tempfile::TempDir, spec: &str) -> Result<Vec<(String, f64)>, String> {
        W1Probes::find(root.path(), spec)
            .and_then(|p| p.read())
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| {
                        assert_eq!(v.key, "temperature_celsius");
                        assert_eq!(v.labels[0].0, "id");
                        (v.labels[0].1.clone(), v.value)
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_thermometer_one_series_each() {
        let root = tree(&[
            ("28-00000a1b2c3d/temperature", "21500\n"),
            // `temperature` wins over w1_slave where both exist.
            ("28-00000a1b2c3d/w1_slave", NO),
            ("10-000802d1e2f3/w1_slave", YES),
            ("3b-0000001a2b3c/temperature", "-10062\n"),
            // An EEPROM (family 2d) is not a thermometer.
            ("2d-00000fedcba9/eeprom", ""),
        ]);
        assert_eq!(
            read(&root, "*").unwrap(),
            [
                ("10-000802d1e2f3".to_string(), 23.125),
                ("28-00000a1b2c3d".to_string(), 21.5),
                ("3b-0000001a2b3c".to_string(), -10.062),
            ]
        );
        assert_eq!(
            read(&root, "10-000802d1e2f3").unwrap(),
            [("10-000802d1e2f3".to_string(), 23.125)]
        );
        let err = read(&root, "2d-00000fedcba9").unwrap_err();
        assert!(
            err.ends_with(
                "2d-00000fedcba9: family \"2d\" is not a 1-Wire thermometer (10, 22, 28, 3b or 42)"
            ),
            "{err}"
        );
        let plan = W1Probes::find(root.path(), "*").unwrap().describe();
        assert!(plan.starts_with("3 probe(s) in "), "{plan}");
        assert!(
            plan.contains("temperature_celsius{id=\"28-00000a1b2c3d\"} (DS18B20) = "),
            "{plan}"
        );
    }

    #[test]
    fn bad_crc_power_on_value_and_no_probe_are_errors() {
        let root = tree(&[
            ("28-00000a1b2c3d/w1_slave", NO),
            ("28-00000a1b2c3e/w1_slave", RESET),
            ("22-00000a1b2c3f/temperature", "85000\n"),
            ("42-00000a1b2c40/w1_slave", "garbage\n"),
        ]);
        let err = read(&root, "28-00000a1b2c3d").unwrap_err();
        assert!(
            err.ends_with(
                "28-00000a1b2c3d/w1_slave: CRC check failed (the first line ends \"NO\", not YES)"
            ),
            "{err}"
        );
        let err = read(&root, "28-00000a1b2c3e").unwrap_err();
        assert!(err.ends_with("28-00000a1b2c3e/w1_slave: 85.000 °C is the power-on reset value, not a reading (the conversion did not run: power or wiring)"), "{err}");
        let err = read(&root, "22-00000a1b2c3f").unwrap_err();
        assert!(
            err.contains("22-00000a1b2c3f/temperature: 85.000 °C"),
            "{err}"
        );
        let err = read(&root, "42-00000a1b2c40").unwrap_err();
        assert!(
            err.contains("42-00000a1b2c40/w1_slave: \"garbage\" is not w1_slave's two lines"),
            "{err}"
        );
        // One bad probe fails `w1:*` as a whole.
        assert!(read(&root, "*").is_err());
        let err = read(&root, "28-00000a1b2c99").unwrap_err();
        assert!(
            err.contains("devices/28-00000a1b2c99: No such file"),
            "{err}"
        );

        let err = read(&root, "28-XYZ").unwrap_err();
        assert!(
            err.ends_with(
                "\"28-XYZ\" is not a 1-Wire id (family-serial in lowercase hex: 28-00000a1b2c3d)"
            ),
            "{err}"
        );

        let empty = tree(&[]);
        let err = read(&empty, "*").unwrap_err();
        assert!(
            err.ends_with("bus/w1/devices: no 1-Wire thermometer (family 10, 22, 28, 3b or 42)"),
            "{err}"
        );
    }

    #[test]
    fn more_probes_than_the_limit_is_an_error() {
        let files: Vec<(String, String)> = (0..=MAX_PROBES)
            .map(|i| (format!("28-{i:012x}/temperature"), "20000".to_string()))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let root = tree(&files);
        let err = read(&root, "*").unwrap_err();
        assert!(
            err.ends_with("bus/w1/devices: more than 64 1-Wire thermometers"),
            "{err}"
        );
    }
}
