//! The kernel's own sensors, read from sysfs: IIO devices (`iio`, channel units in
//! `channels`) and 1-Wire thermometers (`w1`). The kernel drives the chips; we only
//! read the files it exposes, so there is no bus contention with a kernel driver and
//! nothing here ever writes.
//!
//! Every path is under `--path.sysfs` (default `/sys`, node_exporter's flag), so
//! tests and containers with the host's `/sys` mounted elsewhere point it there.
//! Everything read is bounded: [`MAX_FILE_BYTES`] per file, [`MAX_DIR_ENTRIES`] per
//! directory listed, [`MAX_IIO_DEVICES`], [`MAX_CHANNELS`], [`MAX_PROBES`],
//! [`MAX_LABEL_BYTES`]. A read yields every value of the source or fails as a whole
//! with a [`SysfsError`] naming the file (and so the device).
//!
//! Reads block on the kernel (a sensor's driver may convert on `read`, e.g. the
//! DS18B20's 750 ms): the scheduler runs them on the source's worker thread.

mod channels;
mod iio;
mod w1;

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

pub use channels::{ChannelType, CHANNEL_TYPES};
pub use iio::IioDevice;
pub use w1::{W1Probes, POWER_ON_RESET_MILLI_CELSIUS, THERMOMETER_FAMILIES};

/// `--path.sysfs`' default.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys";

/// The most read from one sysfs file: a value, a `name`, `w1_slave`'s two lines
/// (about 75 bytes) all fit many times over; a page is what sysfs serves at most.
pub const MAX_FILE_BYTES: u64 = 4096;

/// The most entries looked at in one sysfs directory (a device's attributes, the
/// list of devices); more is an error rather than a partial listing.
pub const MAX_DIR_ENTRIES: usize = 4096;

/// The most IIO devices searched for a name.
pub const MAX_IIO_DEVICES: usize = 256;

/// The most channels one IIO device may have read.
pub const MAX_CHANNELS: usize = 128;

/// The most 1-Wire thermometers `w1:*` reads.
pub const MAX_PROBES: usize = 64;

/// The longest label value taken from sysfs (an IIO device's `name`).
pub const MAX_LABEL_BYTES: usize = 64;

/// Why a sysfs source cannot be read; every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: longer than {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: {text:?} is not {what}", path.display())]
    Parse {
        path: PathBuf,
        text: String,
        what: &'static str,
    },
    #[error("{}: more than {limit} {what}", path.display())]
    TooMany {
        path: PathBuf,
        limit: usize,
        what: &'static str,
    },
    #[error("{}: no IIO device named {name:?} (names found: {found})", dir.display())]
    NoIioDevice {
        dir: PathBuf,
        name: String,
        found: String,
    },
    #[error("{}: {name:?} is the name of several IIO devices ({found}); use iio:N", dir.display())]
    AmbiguousIioDevice {
        dir: PathBuf,
        name: String,
        found: String,
    },
    #[error("{}: no channel with a known unit (skipped: {skipped})", path.display())]
    NoChannels { path: PathBuf, skipped: String },
    #[error("{}: no 1-Wire thermometer (family 10, 22, 28, 3b or 42)", dir.display())]
    NoProbes { dir: PathBuf },
    #[error("{}: family {family:?} is not a 1-Wire thermometer (10, 22, 28, 3b or 42)", path.display())]
    NotAThermometer { path: PathBuf, family: String },
    #[error("{}: CRC check failed (the first line ends {ending:?}, not YES)", path.display())]
    CrcFailed { path: PathBuf, ending: String },
    #[error("{}: 85.000 °C is the power-on reset value, not a reading (the conversion did not run: power or wiring)", path.display())]
    PowerOnReset { path: PathBuf },
}

/// The text of a sysfs file, at most [`MAX_FILE_BYTES`], trimmed.
fn read_text(path: &Path) -> Result<String, SysfsError> {
    let read_error = |source| SysfsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(read_error)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(SysfsError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(error) => Err(SysfsError::Parse {
            path: path.to_path_buf(),
            text: String::from_utf8_lossy(error.as_bytes()).into_owned(),
            what: "UTF-8 text",
        }),
    }
}

/// A finite decimal number, as the kernel prints IIO values (`23125`, `0.000061`,
/// `-273.15`).
fn parse_number(path: &Path, text: &str) -> Result<f64, SysfsError> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| SysfsError::Parse {
            path: path.to_path_buf(),
            text: text.to_string(),
            what: "a number",
        })
}

/// A label value from sysfs: printable ASCII, not empty, at most
/// [`MAX_LABEL_BYTES`].
fn label_value(path: &Path, text: &str) -> Result<String, SysfsError> {
    let valid = !text.is_empty()
        && text.len() <= MAX_LABEL_BYTES
        && text.bytes().all(|b| (b' '..=b'~').contains(&b));
    if !valid {
        return Err(SysfsError::Parse {
            path: path.to_path_buf(),
            text: text.chars().take(MAX_LABEL_BYTES).collect(),
            what: "a name (printable ASCII, at most 64 bytes)",
        });
    }
    Ok(text.to_string())
}

/// The entries of `dir` whose names are UTF-8, sorted; an error past
/// [`MAX_DIR_ENTRIES`].
fn list_dir(dir: &Path) -> Result<Vec<String>, SysfsError> {
    let read_error = |source| SysfsError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for (count, entry) in std::fs::read_dir(dir).map_err(read_error)?.enumerate() {
        if count >= MAX_DIR_ENTRIES {
            return Err(SysfsError::TooMany {
                path: dir.to_path_buf(),
                limit: MAX_DIR_ENTRIES,
                what: "entries",
            });
        }
        if let Ok(name) = entry.map_err(read_error)?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_bounded_and_numbers_finite() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "1".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        assert!(matches!(read_text(&big), Err(SysfsError::TooLarge { .. })));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "  -273.15\n").unwrap();
        assert_eq!(read_text(&ok).unwrap(), "-273.15");
        assert_eq!(parse_number(&ok, "-273.15").unwrap(), -273.15);
        for bad in ["", "nan", "inf", "-Infinity", "1e999", "12 mV", "0x10"] {
            let err = parse_number(&ok, bad).unwrap_err().to_string();
            assert!(err.ends_with("is not a number"), "{bad}: {err}");
        }
        assert!(label_value(&ok, "bme280").is_ok());
        assert!(label_value(&ok, "a\"b\nc").is_err());
        assert!(label_value(&ok, &"x".repeat(MAX_LABEL_BYTES + 1)).is_err());
    }
}
