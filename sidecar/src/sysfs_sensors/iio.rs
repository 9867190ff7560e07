//! One IIO device (`<sysfs>/bus/iio/devices/iio:deviceN`): found by its `name`
//! file, its index `N` or `iio:deviceN`; every `in_*_input` / `in_*_raw` channel
//! whose type has a unit in [`CHANNEL_TYPES`](super::CHANNEL_TYPES) read into base
//! units by the ABI's rule (see `channels`). The values carry the labels
//! `device="iio:deviceN"` and `name="<the name file>"`, so two chips of one kind stay
//! apart. Which channels exist is found when the device is opened (on every run, so
//! a re-probed device is picked up); a read reads every channel's files or fails.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::channels::{classify, ChannelType};
use super::{
    label_value, list_dir, parse_number, read_text, SysfsError, MAX_CHANNELS, MAX_IIO_DEVICES,
};
use crate::source_states::SourceValue;

/// Where IIO devices are, under `--path.sysfs`.
const IIO_DEVICES: &str = "bus/iio/devices";

/// The kernel's directory name of device N is `iio:deviceN`.
const DEVICE_PREFIX: &str = "iio:device";

/// How a channel's value is read.
#[derive(Debug, Clone, PartialEq)]
enum ChannelFiles {
    /// `in_…_input`: already in the ABI unit.
    Input(PathBuf),
    /// `(raw + offset) × scale`; a missing offset is 0, a missing scale 1.
    Raw {
        raw: PathBuf,
        offset: Option<PathBuf>,
        scale: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Channel {
    key: String,
    kind: &'static ChannelType,
    files: ChannelFiles,
}

/// An IIO device and the channels a read reads.
#[derive(Debug, Clone)]
pub struct IioDevice {
    dir: PathBuf,
    /// `iio:deviceN`.
    device: String,
    /// Its `name` file.
    name: String,
    channels: Vec<Channel>,
    /// Channel files of a type we have no unit for.
    skipped: Vec<String>,
}

impl IioDevice {
    /// Finds `spec` (`bme280`, `0` or `device0`) under `sysfs` and lists its channels.
    pub fn open(sysfs: &Path, spec: &str) -> Result<IioDevice, SysfsError> {
        let devices = sysfs.join(IIO_DEVICES);
        let index = spec.strip_prefix("device").unwrap_or(spec);
        let device = if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
            format!("{DEVICE_PREFIX}{index}")
        } else {
            find_by_name(&devices, spec)?
        };
        let dir = devices.join(&device);
        let name_file = dir.join("name");
        let name = label_value(&name_file, &read_text(&name_file)?)?;
        let (channels, skipped) = channels(&dir)?;
        if channels.is_empty() {
            return Err(SysfsError::NoChannels {
                path: dir,
                skipped: if skipped.is_empty() {
                    "none".into()
                } else {
                    skipped.join(", ")
                },
            });
        }
        Ok(IioDevice {
            dir,
            device,
            name,
            channels,
            skipped,
        })
    }

    /// Every channel's value in base units, labelled with the device; the first
    /// file that cannot be read or parsed fails the whole read.
    pub fn read(&self) -> Result<Vec<SourceValue>, SysfsError> {
        self.channels
            .iter()
            .map(|channel| {
                Ok(SourceValue {
                    key: channel.key.clone(),
                    labels: vec![("device", self.device.clone()), ("name", self.name.clone())],
                    value: read_channel(&channel.files)? * channel.kind.factor,
                })
            })
            .collect()
    }

    /// `iio:deviceN`.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The device's `name` file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the values a read gives, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.channels.iter().map(|c| c.key.as_str()).collect()
    }

    /// Every IIO device under `sysfs` (`edge-sidecar scan`), each opened or with why
    /// it cannot be read; none when the kernel has no IIO bus. At most
    /// [`MAX_IIO_DEVICES`](super::MAX_IIO_DEVICES).
    #[allow(clippy::type_complexity)]
    pub fn all(sysfs: &Path) -> Result<Vec<(String, Result<IioDevice, SysfsError>)>, SysfsError> {
        let devices = sysfs.join(IIO_DEVICES);
        if !devices.is_dir() {
            return Ok(Vec::new());
        }
        let entries: Vec<String> = list_dir(&devices)?
            .into_iter()
            .filter(|e| e.starts_with(DEVICE_PREFIX))
            .collect();
        if entries.len() > MAX_IIO_DEVICES {
            return Err(SysfsError::TooMany {
                path: devices,
                limit: MAX_IIO_DEVICES,
                what: "IIO devices",
            });
        }
        Ok(entries
            .into_iter()
            .map(|entry| {
                let index = entry.trim_start_matches(DEVICE_PREFIX).to_string();
                let device = IioDevice::open(sysfs, &index);
                (entry, device)
            })
            .collect())
    }

    /// What a read reads, for `--check`: the device, then a line per channel.
    pub fn describe(&self) -> String {
        let mut text = format!("{} ({}) at {}", self.device, self.name, self.dir.display());
        for channel in &self.channels {
            let file = |path: &Path| {
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            };
            let formula = match &channel.files {
                ChannelFiles::Input(input) => file(input),
                ChannelFiles::Raw { raw, offset, scale } => {
                    let mut formula = file(raw);
                    if let Some(offset) = offset {
                        formula = format!("({formula} + {})", file(offset));
                    }
                    if let Some(scale) = scale {
                        formula = format!("{formula} × {}", file(scale));
                    }
                    formula
                }
            };
            let _ = write!(
                text,
                "\n      {} = {formula} [{}] × {}",
                channel.key, channel.kind.abi_unit, channel.kind.factor
            );
        }
        if !self.skipped.is_empty() {
            let _ = write!(
                text,
                "\n      skipped (no known unit): {}",
                self.skipped.join(", ")
            );
        }
        text
    }
}

/// The `iio:deviceN` whose `name` is `name`: exactly one.
fn find_by_name(devices: &Path, name: &str) -> Result<String, SysfsError> {
    let mut found = Vec::new();
    let mut matches = Vec::new();
    let entries: Vec<String> = list_dir(devices)?
        .into_iter()
        .filter(|e| e.starts_with(DEVICE_PREFIX))
        .collect();
    if entries.len() > MAX_IIO_DEVICES {
        return Err(SysfsError::TooMany {
            path: devices.to_path_buf(),
            limit: MAX_IIO_DEVICES,
            what: "IIO devices",
        });
    }
    for entry in entries {
        let name_file = devices.join(&entry).join("name");
        let Ok(text) = read_text(&name_file) else {
            continue;
        };
        if text == name {
            matches.push(entry.clone());
        }
        found.push(format!("{entry}={text}"));
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(SysfsError::NoIioDevice {
            dir: devices.to_path_buf(),
            name: name.to_string(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        }),
        _ => Err(SysfsError::AmbiguousIioDevice {
            dir: devices.to_path_buf(),
            name: name.to_string(),
            found: matches.join(", "),
        }),
    }
}

/// The device's channels (in file-name order) and the channel files skipped.
fn channels(dir: &Path) -> Result<(Vec<Channel>, Vec<String>), SysfsError> {
    let files = list_dir(dir)?;
    let has = |name: &str| files.binary_search_by(|f| f.as_str().cmp(name)).is_ok();
    let mut channels: Vec<Channel> = Vec::new();
    let mut skipped = Vec::new();
    for file in &files {
        let Some(rest) = file.strip_prefix("in_") else {
            continue;
        };
        let (stem, is_input) = if let Some(stem) = rest.strip_suffix("_input") {
            (stem, true)
        } else if let Some(stem) = rest.strip_suffix("_raw") {
            // `_input` wins where both exist: it is the kernel's own conversion.
            if has(&format!("in_{stem}_input")) {
                continue;
            }
            (stem, false)
        } else {
            continue;
        };
        let Some((kind, key)) = classify(stem) else {
            skipped.push(file.clone());
            continue;
        };
        if channels.len() >= MAX_CHANNELS {
            return Err(SysfsError::TooMany {
                path: dir.to_path_buf(),
                limit: MAX_CHANNELS,
                what: "channels",
            });
        }
        let files = if is_input {
            ChannelFiles::Input(dir.join(file))
        } else {
            // The channel's own attribute, else the one shared by its type.
            let find = |what: &str| {
                [
                    format!("in_{stem}_{what}"),
                    format!("in_{}_{what}", kind.abi),
                ]
                .into_iter()
                .find(|name| has(name))
                .map(|name| dir.join(name))
            };
            ChannelFiles::Raw {
                raw: dir.join(file),
                offset: find("offset"),
                scale: find("scale"),
            }
        };
        channels.push(Channel { key, kind, files });
    }
    Ok((channels, skipped))
}

/// A channel's value in its ABI unit.
fn read_channel(files: &ChannelFiles) -> Result<f64, SysfsError> {
    let number = |path: &Path| parse_number(path, &read_text(path)?);
    match files {
        ChannelFiles::Input(input) => number(input),
        ChannelFiles::Raw { raw, offset, scale } => {
            let raw = number(raw)?;
            let offset = offset.as_deref().map(number).transpose()?.unwrap_or(0.0);
            let scale = scale.as_deref().map(number).transpose()?.unwrap_or(1.0);
            Ok((raw + offset) * scale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path under the sysfs root, contents) into a fresh tree.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    const D: &str = "bus/iio/devices";

    fn iio_tree() -> tempfile::TempDir {
        tree(&[
            // BME280 (bmp280 driver): processed values.
            (&format!("{D}/iio:device0/name"), "bme280\n"),
            (&format!("{D}/iio:device0/in_temp_input"), "23450\n"),
            (
                &format!("{D}/iio:device0/in_humidityrelative_input"),
                "41523\n",
            ),
            (&format!("{D}/iio:device0/in_pressure_input"), "100.96125\n"),
            (
                &format!("{D}/iio:device0/in_temp_oversampling_ratio"),
                "2\n",
            ),
            // ADS1015: raw counts, a scale shared by the voltage channels (3 mV/LSB).
            (&format!("{D}/iio:device1/name"), "ads1015\n"),
            (&format!("{D}/iio:device1/in_voltage0_raw"), "1100\n"),
            (&format!("{D}/iio:device1/in_voltage1_raw"), "-4\n"),
            (
                &format!("{D}/iio:device1/in_voltage_scale"),
                "3.000000000\n",
            ),
            (
                &format!("{D}/iio:device1/in_voltage0_scale_available"),
                "3 2 1\n",
            ),
            (
                &format!("{D}/iio:device1/in_voltage_sampling_frequency"),
                "1600\n",
            ),
            // A temperature with an offset (an SHT-style 16-bit raw), and a CO2
            // channel in percent, and a type we have no unit for.
            (&format!("{D}/iio:device2/name"), "scd4x\n"),
            (&format!("{D}/iio:device2/in_temp_raw"), "26214\n"),
            (&format!("{D}/iio:device2/in_temp_offset"), "-16852\n"),
            (&format!("{D}/iio:device2/in_temp_scale"), "2.670288\n"),
            (
                &format!("{D}/iio:device2/in_concentration_co2_raw"),
                "640\n",
            ),
            (
                &format!("{D}/iio:device2/in_concentration_co2_scale"),
                "0.0001\n",
            ),
            (&format!("{D}/iio:device2/in_magn_x_raw"), "12\n"),
        ])
    }

    fn values(device: &IioDevice) -> Vec<(String, f64)> {
        device
            .read()
            .unwrap()
            .into_iter()
            .map(|v| (v.key, v.value))
            .collect()
    }

    fn close(got: &[(String, f64)], want: &[(&str, f64)]) {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((key, value), (want_key, want_value)) in got.iter().zip(want) {
            assert_eq!(key, want_key);
            assert!(
                (value - want_value).abs() <= want_value.abs() * 1e-12,
                "{key}: {value} != {want_value}"
            );
        }
    }

    #[test]
    fn input_channels_are_converted_from_abi_units() {
        let root = iio_tree();
        let device = IioDevice::open(root.path(), "bme280").unwrap();
        // 23450 m°C, 41523 m%RH, 100.96125 kPa.
        close(
            &values(&device),
            &[
                ("humidity_percent", 41.523),
                ("pressure_pascals", 100_961.25),
                ("temperature_celsius", 23.45),
            ],
        );
        let labels = &device.read().unwrap()[0].labels;
        assert_eq!(
            labels,
            &[
                ("device", "iio:device0".to_string()),
                ("name", "bme280".to_string())
            ]
        );
    }

    #[test]
    fn raw_channels_take_the_shared_scale_and_the_offset() {
        let root = iio_tree();
        // By index and by directory name: the same device.
        for spec in ["1", "device1"] {
            let device = IioDevice::open(root.path(), spec).unwrap();
            // 1100 × 3 mV = 3.3 V; -4 × 3 mV = -12 mV.
            close(
                &values(&device),
                &[("voltage0_volts", 3.3), ("voltage1_volts", -0.012)],
            );
        }
        let device = IioDevice::open(root.path(), "scd4x").unwrap();
        // (26214 - 16852) × 2.670288 = 24999.236… m°C; 640 × 0.0001 % = 640 ppm.
        close(
            &values(&device),
            &[("co2_ppm", 640.0), ("temperature_celsius", 24.999236256)],
        );
        let plan = device.describe();
        assert!(
            plan.contains(
                "(in_temp_raw + in_temp_offset) × in_temp_scale [milli degrees Celsius] × 0.001"
            ),
            "{plan}"
        );
        assert!(
            plan.contains("skipped (no known unit): in_magn_x_raw"),
            "{plan}"
        );
    }

    #[test]
    fn a_read_fails_whole_naming_the_device_and_file() {
        let root = iio_tree();
        let device = IioDevice::open(root.path(), "ads1015").unwrap();
        let scale = root.path().join(D).join("iio:device1/in_voltage_scale");
        std::fs::write(&scale, "fast\n").unwrap();
        let err = device.read().unwrap_err().to_string();
        assert!(
            err.ends_with("bus/iio/devices/iio:device1/in_voltage_scale: \"fast\" is not a number"),
            "{err}"
        );
        // A busy sensor: the channel file cannot be read (here: it is gone).
        std::fs::remove_file(root.path().join(D).join("iio:device1/in_voltage0_raw")).unwrap();
        let err = device.read().unwrap_err().to_string();
        assert!(
            err.contains("iio:device1/in_voltage0_raw: No such file"),
            "{err}"
        );
    }

    #[test]
    fn a_device_is_found_once_or_not_at_all() {
        let root = iio_tree();
        let err = IioDevice::open(root.path(), "sht4x")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("no IIO device named \"sht4x\" (names found: iio:device0=bme280, iio:device1=ads1015, iio:device2=scd4x)"),
            "{err}"
        );
        let err = IioDevice::open(root.path(), "7").unwrap_err().to_string();
        assert!(err.contains("iio:device7/name: No such file"), "{err}");
        let twin = root.path().join(D).join("iio:device3");
        std::fs::create_dir_all(&twin).unwrap();
        std::fs::write(twin.join("name"), "bme280\n").unwrap();
        let err = IioDevice::open(root.path(), "bme280")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("\"bme280\" is the name of several IIO devices (iio:device0, iio:device3); use iio:N"), "{err}");
        // No channel we know the unit of.
        let err = IioDevice::open(root.path(), "3").unwrap_err().to_string();
        assert!(
            err.ends_with("iio:device3: no channel with a known unit (skipped: none)"),
            "{err}"
        );
    }

    #[test]
    fn more_channels_than_the_limit_is_an_error() {
        let files: Vec<(String, &str)> = (0..=MAX_CHANNELS)
            .map(|i| (format!("{D}/iio:device0/in_voltage{i}_raw"), "1"))
            .chain([(format!("{D}/iio:device0/name"), "adc")])
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        let root = tree(&files);
        let err = IioDevice::open(root.path(), "0").unwrap_err().to_string();
        assert!(
            err.ends_with("iio:device0: more than 128 channels"),
            "{err}"
        );
    }
}
