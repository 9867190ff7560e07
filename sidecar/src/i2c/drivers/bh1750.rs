//! ROHM BH1750FVI ambient light sensor: one "one time H-resolution mode" command
//! (0x20) per read, a wait for the conversion, then a plain 2-byte read, big
//! endian: lux = count / 1.2 (datasheet, "Measurement sequence" and "Explanation
//! of Asynchronous reset and measurement result").
//!
//! The chip has no id register and no status: nothing can identify it, and a read
//! cannot ask whether the conversion is done. So the driver writes its command
//! without identification — it is configured by the user for this address, unlike
//! `scan`, which never writes to a device it has not identified — and waits the
//! datasheet's maximum measurement time (180 ms; 120 ms typical). After the
//! measurement the chip powers itself down until the next read.
//!
//! `measurement_time` sets the measurement time register MTreg (31 to 254; 69
//! after power-up) before each measurement, with the two commands 0x40 | MT >> 5
//! and 0x60 | MT & 0x1F: a longer integration for light behind a dark window.
//! Counts then scale by 69 / MTreg and the measurement takes MTreg / 69 as long.
//! Without the option nothing but the measurement command is written and the
//! chip's MTreg (69 unless something else changed it) is assumed.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "bh1750",
    build,
};

const ONE_TIME_H_RESOLUTION: u8 = 0x20;
/// Measurement time register, high bits 7..5 and low bits 4..0.
const MTREG_HIGH: u8 = 0x40;
const MTREG_LOW: u8 = 0x60;
const MTREG_DEFAULT: u8 = 69;
const MTREG_RANGE: RangeInclusive<i64> = 31..=254;
/// Counts per lux at the default MTreg (the datasheet's "/ 1.2").
const COUNTS_PER_LUX: f64 = 1.2;
/// The longest H-resolution measurement at the default MTreg.
const MAX_MEASUREMENT_AT_DEFAULT: Duration = Duration::from_millis(180);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let mtreg = keys
        .integer_in("measurement_time", MTREG_RANGE)?
        .map(|mt| mt as u8);
    Ok(Box::new(Bh1750 { mtreg }))
}

#[derive(Debug)]
struct Bh1750 {
    /// `None`: leave the chip's register alone (69 after power-up).
    mtreg: Option<u8>,
}

impl Bh1750 {
    fn mtreg(&self) -> u8 {
        self.mtreg.unwrap_or(MTREG_DEFAULT)
    }

    /// The maximum measurement time, which grows with MTreg; rounded up to 1 ms.
    fn measurement_time(&self) -> Duration {
        let micros = MAX_MEASUREMENT_AT_DEFAULT.as_micros() as u64 * u64::from(self.mtreg())
            / u64::from(MTREG_DEFAULT);
        Duration::from_millis(micros.div_ceil(1000))
    }

    fn lux(&self, count: u16) -> f64 {
        f64::from(count) / COUNTS_PER_LUX * f64::from(MTREG_DEFAULT) / f64::from(self.mtreg())
    }
}

/// The two commands that set MTreg to `mt`.
fn mtreg_commands(mt: u8) -> [u8; 2] {
    [MTREG_HIGH | mt >> 5, MTREG_LOW | mt & 0x1F]
}

impl Driver for Bh1750 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[("illuminance", "illuminance_lux")])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        if let Some(mt) = self.mtreg {
            for command in mtreg_commands(mt) {
                chip.write(&[command])?;
            }
        }
        chip.write(&[ONE_TIME_H_RESOLUTION])?;
        chip.wait(self.measurement_time())?;
        let mut count = [0u8; 2];
        chip.read(&mut count)?;
        Ok(vec![self.lux(u16::from_be_bytes(count))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::{assert_close, assert_nack};
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x23\ndriver = \"bh1750\"\n{options}");
        I2cSource::from_toml(&text, "bh1750.toml").unwrap()
    }

    #[test]
    fn the_datasheet_example_reading() {
        // "High Byte 1000_0011, Low Byte 1001_0000: (2¹⁵ + 2⁹ + 2⁸ + 2⁷ + 2⁴) / 1.2
        // ≈ 28067 [lx]".
        let source = source("");
        assert_eq!(source.names(), ["illuminance_lux"]);
        let mut bus = ScriptedBus::at(
            0x23,
            vec![
                Step::Write(vec![ONE_TIME_H_RESOLUTION]),
                Step::Read(vec![0x83, 0x90]),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![Duration::from_millis(180)]);
        assert_close(values[0].1, 33680.0 / 1.2);
        assert_eq!(values[0].1.round(), 28067.0);
    }

    #[test]
    fn measurement_time_is_set_first_and_scales_the_result() {
        // The datasheet's "sensitivity ×2" example: MTreg = 138 (1000_1010) is
        // written as 01000_100 and 011_01010; the same light gives twice the
        // count, so the lux per count halve, and the measurement takes twice as long.
        assert_eq!(mtreg_commands(138), [0x44, 0x6A]);
        assert_eq!(mtreg_commands(31), [0x40, 0x7F]);
        assert_eq!(mtreg_commands(254), [0x47, 0x7E]);
        let source = source("measurement_time = 138\n");
        let mut bus = ScriptedBus::at(
            0x23,
            vec![
                Step::Write(vec![0x44]),
                Step::Write(vec![0x6A]),
                Step::Write(vec![ONE_TIME_H_RESOLUTION]),
                Step::Read(vec![0x83, 0x90]),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![Duration::from_millis(360)]);
        assert_close(values[0].1, 33680.0 / 1.2 / 2.0);

        // The longest: 254 / 69 × 180 ms = 662.6 ms, within the read's wait budget.
        let longest = Bh1750 { mtreg: Some(254) };
        assert_eq!(longest.measurement_time(), Duration::from_millis(663));
        assert_close(longest.lux(1), 69.0 / (1.2 * 254.0));
    }

    #[test]
    fn a_nack_fails_the_read() {
        // Nothing at the address: the command is not acknowledged.
        let mut bus = ScriptedBus::at(0x23, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_nack(&error, "i2c-1 address 0x23: writing 0x20: EREMOTEIO");
        // The result read refused.
        let mut bus = ScriptedBus::at(
            0x23,
            vec![
                Step::Write(vec![ONE_TIME_H_RESOLUTION]),
                Step::Fail(libc::ENXIO),
            ],
        );
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_nack(&error, "i2c-1 address 0x23: reading 2 bytes: ENXIO");
    }

    #[test]
    fn measurement_time_must_be_in_range() {
        for (value, message) in [
            ("30", "30 is out of range 31..=254"),
            ("255", "255 is out of range 31..=254"),
            ("\"69\"", "expected an integer, found string"),
        ] {
            let text = format!(
                "bus = 1\naddress = 0x23\ndriver = \"bh1750\"\nmeasurement_time = {value}\n"
            );
            let error = I2cSource::from_toml(&text, "bh1750.toml").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("bh1750.toml:4: measurement_time: {message}")
            );
        }
    }
}
