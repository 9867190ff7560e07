//! TE HTU21D(F) and Silicon Labs Si7021 (the same protocol; SHT21 too): one
//! command per measurement, answered with a big-endian word whose two low bits
//! are status (masked off) and a CRC-8 (polynomial 0x131, init 0x00).
//!
//! By default the no-hold commands (0xF3, 0xF5): the sensor NACKs reads until it
//! is done, so the driver waits the longest conversion time first. `hold_master =
//! true` uses 0xE3/0xE5 instead, where the sensor stretches the clock during the
//! conversion — shorter, but not every adapter allows clock stretching (the
//! Raspberry Pi's does not, reliably).
//!
//! Humidity is in percent as the datasheet formula gives it, not cropped to
//! 0..100 (see the SHT driver for why).

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::crc::Crc8;
use crate::i2c::driver::{checked_word, value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError};
use crate::i2c::toml_keys::Keys;

pub(crate) const HTU21D: DriverSpec = DriverSpec {
    name: "htu21d",
    build,
};

pub(crate) const SI7021: DriverSpec = DriverSpec {
    name: "si7021",
    build,
};

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let hold_master = keys.boolean("hold_master")?.unwrap_or(false);
    Ok(Box::new(Htu21d { hold_master }))
}

/// One measurement: its commands (hold, no hold) and the longest conversion of
/// either chip — HTU21D 50 ms for a 14-bit temperature, 16 ms for a 12-bit
/// humidity; Si7021 10.8 ms and 12 ms plus the temperature it measures with it.
struct Measurement {
    what: &'static str,
    hold: u8,
    no_hold: u8,
    conversion: Duration,
}

const TEMPERATURE: Measurement = Measurement {
    what: "temperature",
    hold: 0xE3,
    no_hold: 0xF3,
    conversion: Duration::from_millis(50),
};

const HUMIDITY: Measurement = Measurement {
    what: "humidity",
    hold: 0xE5,
    no_hold: 0xF5,
    conversion: Duration::from_millis(23),
};

/// The two status bits at the bottom of every reading.
const STATUS_BITS: u16 = 0x0003;

fn temperature(raw: u16) -> f64 {
    -46.85 + 175.72 * f64::from(raw & !STATUS_BITS) / 65536.0
}

fn humidity(raw: u16) -> f64 {
    -6.0 + 125.0 * f64::from(raw & !STATUS_BITS) / 65536.0
}

#[derive(Debug)]
struct Htu21d {
    hold_master: bool,
}

impl Htu21d {
    fn measure(&self, chip: &mut Chip<'_>, m: &Measurement) -> Result<u16, I2cReadError> {
        let mut reply = [0u8; 3];
        if self.hold_master {
            chip.write_read(&[m.hold], &mut reply)?;
        } else {
            chip.write(&[m.no_hold])?;
            chip.wait(m.conversion)?;
            chip.read(&mut reply)?;
        }
        checked_word(chip, &reply, Crc8::Htu21d, m.what)
    }
}

impl Driver for Htu21d {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("temperature", "temperature_celsius"),
            ("humidity", "humidity_percent"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let t = self.measure(chip, &TEMPERATURE)?;
        let rh = self.measure(chip, &HUMIDITY)?;
        Ok(vec![temperature(t), humidity(rh)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    // HTU21D datasheet examples: 0x683A (CRC 0x7C) is 24.7 °C, 0x7C80 is 54.8 %RH.
    const T_REPLY: [u8; 3] = [0x68, 0x3A, 0x7C];
    const RH_REPLY: [u8; 3] = [0x7C, 0x80, 0xF5];
    const T_EXPECTED: f64 = -46.85 + 175.72 * 26680.0 / 65536.0;
    const RH_EXPECTED: f64 = -6.0 + 125.0 * 31872.0 / 65536.0;

    #[test]
    fn formulas_match_the_datasheet() {
        assert_close(temperature(0x683A), T_EXPECTED);
        assert!((temperature(0x683A) - 24.7).abs() < 0.05);
        assert_close(humidity(0x7C80), RH_EXPECTED);
        assert!((humidity(0x7C80) - 54.8).abs() < 0.05);
        // The status bits do not count.
        assert_eq!(humidity(0x7C83), humidity(0x7C80));
    }

    #[test]
    fn no_hold_measurements() {
        let text = "bus = 1\naddress = 0x40\ndriver = \"htu21d\"\n";
        let source = I2cSource::from_toml(text, "htu21d.toml").unwrap();
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                Step::Write(vec![0xF3]),
                Step::Read(T_REPLY.to_vec()),
                Step::Write(vec![0xF5]),
                Step::Read(RH_REPLY.to_vec()),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        let ms = Duration::from_millis;
        assert_eq!(bus.waits, vec![ms(50), ms(23)]);
        assert_eq!(values[0].0, "temperature_celsius");
        assert_close(values[0].1, T_EXPECTED);
        assert_eq!(values[1].0, "humidity_percent");
        assert_close(values[1].1, RH_EXPECTED);
    }

    #[test]
    fn hold_master_measurements() {
        let text = "bus = 1\naddress = 0x40\ndriver = \"si7021\"\nhold_master = true\n\
                    prefix = \"room_\"\n[names]\nhumidity = \"rh_percent\"\n";
        let source = I2cSource::from_toml(text, "si7021.toml").unwrap();
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                Step::WriteRead(vec![0xE3], T_REPLY.to_vec()),
                Step::WriteRead(vec![0xE5], RH_REPLY.to_vec()),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert!(bus.waits.is_empty());
        assert_eq!(values[0].0, "room_temperature_celsius");
        assert_eq!(values[1].0, "room_rh_percent");
        assert_close(values[1].1, RH_EXPECTED);
    }

    #[test]
    fn a_crc_mismatch_names_the_address() {
        let text = "bus = 2\naddress = 0x40\ndriver = \"htu21d\"\n";
        let source = I2cSource::from_toml(text, "htu21d.toml").unwrap();
        let mut bus = ScriptedBus::at(
            0x40,
            vec![Step::Write(vec![0xF3]), Step::Read(vec![0x68, 0x3A, 0x7D])],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-2 address 0x40: checking the CRC of the temperature: CRC mismatch: \
             expected 0x7c (computed from the data), received 0x7d"
        );
    }
}
