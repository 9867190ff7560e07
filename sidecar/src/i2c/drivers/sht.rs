//! Sensirion SHT3x (SHT30/31/35) and SHT4x (SHT40/41/45): one command starts a
//! measurement, and after the conversion time a 6-byte read returns temperature
//! and humidity, each a big-endian word followed by its CRC-8 (init 0xFF).
//!
//! Single shots with clock stretching disabled: a read before the conversion is
//! done is NACKed, so the driver waits the datasheet's maximum first.
//! Humidity is returned in percent as computed, not cropped to 0..100: a reading
//! over 100 says the sensor is wet or saturated, which cropping would hide.

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::crc::Crc8;
use crate::i2c::driver::{checked_word, value_names, Driver, DriverSpec};
use crate::i2c::error::I2cReadError;

pub(crate) const SHT3X: DriverSpec = DriverSpec {
    name: "sht3x",
    build: |_| {
        Ok(Box::new(Sht {
            model: Model::Sht3x,
        }))
    },
};

pub(crate) const SHT4X: DriverSpec = DriverSpec {
    name: "sht4x",
    build: |_| {
        Ok(Box::new(Sht {
            model: Model::Sht4x,
        }))
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Sht3x,
    Sht4x,
}

impl Model {
    fn command(self) -> &'static [u8] {
        match self {
            // Single shot, high repeatability, clock stretching disabled.
            Model::Sht3x => &[0x24, 0x00],
            // Measure T & RH with high precision (high repeatability).
            Model::Sht4x => &[0xFD],
        }
    }

    /// The datasheet's maximum conversion time, rounded up: 15 ms (SHT3x, high
    /// repeatability) and 8.3 ms (SHT4x, high precision).
    fn conversion(self) -> Duration {
        match self {
            Model::Sht3x => Duration::from_millis(16),
            Model::Sht4x => Duration::from_millis(9),
        }
    }

    fn humidity(self, raw: u16) -> f64 {
        let fraction = f64::from(raw) / 65535.0;
        match self {
            Model::Sht3x => 100.0 * fraction,
            Model::Sht4x => -6.0 + 125.0 * fraction,
        }
    }
}

/// °C from a raw word; the same for both families.
fn temperature(raw: u16) -> f64 {
    -45.0 + 175.0 * f64::from(raw) / 65535.0
}

#[derive(Debug)]
struct Sht {
    model: Model,
}

impl Driver for Sht {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("temperature", "temperature_celsius"),
            ("humidity", "humidity_percent"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        chip.write(self.model.command())?;
        chip.wait(self.model.conversion())?;
        let mut frame = [0u8; 6];
        chip.read(&mut frame)?;
        let t = checked_word(chip, &frame[0..3], Crc8::Sensirion, "temperature")?;
        let rh = checked_word(chip, &frame[3..6], Crc8::Sensirion, "humidity")?;
        Ok(vec![temperature(t), self.model.humidity(rh)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::{BusErrorKind, I2cSource, ReadFailure};

    // Raw words whose fraction of 65535 is exact: 0x6666 = 0.4, 0x9999 = 0.6; the
    // CRCs are the datasheet algorithm's (checked in crc.rs against its example
    // 0xBEEF → 0x92).
    const FRAME: [u8; 6] = [0x66, 0x66, 0x93, 0x99, 0x99, 0xBE];

    fn source(driver: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x44\ndriver = \"{driver}\"\n");
        I2cSource::from_toml(&text, "sht.toml").unwrap()
    }

    #[test]
    fn formulas_match_the_datasheets() {
        assert_close(temperature(0), -45.0);
        assert_close(temperature(0xFFFF), 130.0);
        assert_close(temperature(0x6666), 25.0);
        assert_close(Model::Sht3x.humidity(0x9999), 60.0);
        assert_close(Model::Sht3x.humidity(0xFFFF), 100.0);
        assert_close(Model::Sht4x.humidity(0x9999), 69.0);
        assert_close(Model::Sht4x.humidity(0), -6.0);
    }

    #[test]
    fn sht3x_single_shot() {
        let source = source("sht3x");
        let mut bus = ScriptedBus::at(
            0x44,
            vec![Step::Write(vec![0x24, 0x00]), Step::Read(FRAME.to_vec())],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![Duration::from_millis(16)]);
        assert_eq!(values[0].0, "temperature_celsius");
        assert_close(values[0].1, 25.0);
        assert_eq!(values[1].0, "humidity_percent");
        assert_close(values[1].1, 60.0);
    }

    #[test]
    fn sht4x_high_precision() {
        let source = source("sht4x");
        let mut bus = ScriptedBus::at(
            0x44,
            vec![Step::Write(vec![0xFD]), Step::Read(FRAME.to_vec())],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![Duration::from_millis(9)]);
        assert_close(values[0].1, 25.0);
        assert_close(values[1].1, 69.0);
    }

    #[test]
    fn a_crc_mismatch_names_the_address() {
        let source = source("sht3x");
        let mut frame = FRAME;
        frame[2] ^= 0x01;
        let mut bus = ScriptedBus::at(
            0x44,
            vec![Step::Write(vec![0x24, 0x00]), Step::Read(frame.to_vec())],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x44: checking the CRC of the temperature: CRC mismatch: \
             expected 0x93 (computed from the data), received 0x92"
        );
    }

    #[test]
    fn a_read_before_the_conversion_is_nacked() {
        let source = source("sht3x");
        let mut bus = ScriptedBus::at(
            0x44,
            vec![Step::Write(vec![0x24, 0x00]), Step::Fail(libc::EREMOTEIO)],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(error.operation, "reading 6 bytes");
        match &error.failure {
            ReadFailure::Bus(bus) => assert_eq!(bus.kind(), BusErrorKind::Nack),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn takes_no_options() {
        let text = "bus = 1\naddress = 0x44\ndriver = \"sht3x\"\nrepeatability = \"low\"\n";
        let error = I2cSource::from_toml(text, "sht.toml").unwrap_err();
        assert_eq!(error.key.as_deref(), Some("repeatability"));
        assert_eq!(error.line, Some(4));
    }
}
