//! What a chip driver is: the one-method [`Driver`] trait, the [`DriverSpec`] the
//! registry (`drivers`) lists, and the small pieces several drivers share. It does
//! not know which drivers exist; `drivers/mod.rs` is the only place that does.
//!
//! A driver is for a chip whose values a scale and an offset cannot express — a
//! command sequence with checksums, a calibration to program, a conversion to poll,
//! factory coefficients to apply. The generic `[read]` reader is a `Driver` too.

use std::fmt;

use super::chip::Chip;
use super::crc::Crc8;
use super::error::{I2cConfigError, I2cReadError, ReadFailure};
use super::toml_keys::Keys;

/// Reads one chip's values.
pub(crate) trait Driver: fmt::Debug + Send + Sync {
    /// The values `read` returns, in order, as (key for `[names]`, default name).
    fn values(&self) -> Vec<(String, String)>;
    /// Reads the chip at the chip's (already selected) address.
    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError>;
}

/// What the registry knows of a driver: its name (`driver = "sht3x"`) and how
/// to build it from its options at the top level of the sensor file.
pub(crate) struct DriverSpec {
    pub name: &'static str,
    pub build: fn(&mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError>,
}

/// Fixed (key, default name) pairs as `Driver::values` returns them.
pub(crate) fn value_names(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, name)| (key.to_string(), name.to_string()))
        .collect()
}

/// One of a fixed list of numbers (`full_scale_volts = 2.048`), as its index.
pub(crate) fn float_choice(
    keys: &mut Keys<'_, '_>,
    key: &'static str,
    choices: &[f64],
) -> Result<Option<usize>, I2cConfigError> {
    let Some(value) = keys.float(key)? else {
        return Ok(None);
    };
    match choices
        .iter()
        .position(|choice| (choice - value).abs() <= 1e-9 * choice.abs())
    {
        Some(index) => Ok(Some(index)),
        None => Err(keys.error(
            key,
            format!(
                "{value} is not one of {}",
                choices
                    .iter()
                    .map(f64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A 16-bit word followed by its CRC-8, as humidity sensors send each reading.
pub(crate) fn checked_word(
    chip: &Chip<'_>,
    bytes: &[u8],
    crc: Crc8,
    what: &str,
) -> Result<u16, I2cReadError> {
    let &[high, low, actual] = bytes else {
        return Err(chip.error(
            format!("decoding the {what}"),
            ReadFailure::Device(format!("{} bytes, not a word and its CRC", bytes.len())),
        ));
    };
    let expected = crc.checksum(&[high, low]);
    if expected != actual {
        return Err(chip.error(
            format!("checking the CRC of the {what}"),
            ReadFailure::Crc { expected, actual },
        ));
    }
    Ok(u16::from_be_bytes([high, low]))
}

/// A 16-bit identification register (big endian) and what it must hold: how a
/// chip that has one is identified before anything is written to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdRegister {
    /// `"manufacturer id"`, `"die id"`: named in the error.
    pub what: &'static str,
    pub register: u8,
    /// The bits that identify (a revision field below them may change).
    pub mask: u16,
    pub expected: u16,
    /// The chip the id belongs to, for the error: `"INA226"`.
    pub chip: &'static str,
}

impl IdRegister {
    /// Reads the register and fails, naming what it read, unless it matches.
    pub fn check(&self, chip: &mut Chip<'_>) -> Result<(), I2cReadError> {
        let value = chip.read_register_u16_be(self.register)?;
        if value & self.mask == self.expected {
            return Ok(());
        }
        let bits = if self.mask == u16::MAX {
            String::new()
        } else {
            format!(" in bits {:#06x}", self.mask)
        };
        Err(chip.error(
            format!("checking the {}", self.what),
            ReadFailure::Device(format!(
                "register {:#04x} reads {value:#06x}, not the {}'s {} {:#06x}{bits}",
                self.register, self.chip, self.what, self.expected
            )),
        ))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::i2c::{BusErrorKind, I2cReadError, ReadFailure};

    /// Asserts `error` is a NACK and its text starts with `start` (bus, address,
    /// operation and errno).
    pub fn assert_nack(error: &I2cReadError, start: &str) {
        assert!(error.to_string().starts_with(start), "{error}");
        match &error.failure {
            ReadFailure::Bus(bus) => assert_eq!(bus.kind(), BusErrorKind::Nack),
            other => panic!("{other:?}"),
        }
    }

    /// Asserts `actual` is within 1e-9 (relative) of `expected`: the formulas are
    /// exact, only float rounding differs.
    pub fn assert_close(actual: f64, expected: f64) {
        let tolerance = 1e-9 * expected.abs().max(1.0);
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not {expected}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::ScriptedBus;

    #[test]
    fn checked_words_verify_their_crc() {
        let mut bus = ScriptedBus::new(vec![]);
        let chip = Chip::new(&mut bus, 1, 0x44);
        let word = checked_word(&chip, &[0xBE, 0xEF, 0x92], Crc8::Sensirion, "x").unwrap();
        assert_eq!(word, 0xBEEF);
        let error =
            checked_word(&chip, &[0xBE, 0xEF, 0x00], Crc8::Sensirion, "humidity").unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x44: checking the CRC of the humidity: CRC mismatch: \
             expected 0x92 (computed from the data), received 0x00"
        );
    }
}
