//! Microchip MCP9808 temperature sensor (datasheet DS25095, section 5.1): checks
//! the manufacturer id (register 0x06 = 0x0054) and the device id (the upper byte
//! of register 0x07 = 0x04; the lower byte is the revision), then reads the
//! ambient temperature register (0x05, section 5.1.3).
//!
//! The chip converts continuously from power-up (0.0625 °C, 250 ms per
//! conversion), so the driver never writes to it. When the configuration register
//! (0x01) has its shutdown bit set the temperature register is not updated, so
//! the read fails instead of reporting a stale value.
//!
//! The temperature register holds three alert flags (bits 15..13, masked off)
//! above a 13-bit two's complement number of 1/16 °C (sign in bit 12). Surprising:
//! the datasheet's Equation 5-1 for negative temperatures, 256 − (UpperByte · 2⁴ +
//! LowerByte · 2⁻⁴) with the sign bit cleared, gives the right magnitude with the
//! wrong sign (0x1FF0 would be +1 °C); its text says two's complement, which gives
//! −1 °C, and that is what is decoded here.

use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec, IdRegister};
use crate::i2c::error::{I2cReadError, ReadFailure};

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "mcp9808",
    build: |_| Ok(Box::new(Mcp9808)),
};

const CONFIG: u8 = 0x01;
/// Configuration bit 8: shutdown (no conversions).
const SHUTDOWN: u16 = 0x0100;
const AMBIENT_TEMPERATURE: u8 = 0x05;

const IDS: [IdRegister; 2] = [
    IdRegister {
        what: "manufacturer id",
        register: 0x06,
        mask: 0xFFFF,
        expected: 0x0054,
        chip: "MCP9808",
    },
    IdRegister {
        what: "device id",
        register: 0x07,
        mask: 0xFF00,
        expected: 0x0400,
        chip: "MCP9808",
    },
];

/// °C from the ambient temperature register: flags (15..13) masked, bits 12..0
/// sign-extended, 1/16 °C each.
fn temperature(register: u16) -> f64 {
    let thirteen_bits = (register << 3) as i16 >> 3;
    f64::from(thirteen_bits) / 16.0
}

#[derive(Debug)]
struct Mcp9808;

impl Driver for Mcp9808 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[("temperature", "temperature_celsius")])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        for id in &IDS {
            id.check(chip)?;
        }
        let config = chip.read_register_u16_be(CONFIG)?;
        if config & SHUTDOWN != 0 {
            return Err(chip.error(
                "reading the configuration",
                ReadFailure::Device(format!(
                    "configuration {config:#06x} has the shutdown bit set: the chip is not \
                     converting and its temperature register is stale"
                )),
            ));
        }
        let raw = chip.read_register_u16_be(AMBIENT_TEMPERATURE)?;
        Ok(vec![temperature(raw)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_nack;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    fn source() -> I2cSource {
        let text = "bus = 1\naddress = 0x18\ndriver = \"mcp9808\"\n";
        I2cSource::from_toml(text, "mcp9808.toml").unwrap()
    }

    fn identified() -> Vec<Step> {
        vec![Step::word(0x06, 0x0054), Step::word(0x07, 0x0400)]
    }

    #[test]
    fn register_values_by_the_datasheet_bit_weights() {
        // Register 5-4: bit 12 sign, bits 11..0 from 2⁷ °C down to 2⁻⁴ °C.
        // 0x0190: 2⁴ + 2³ + 2⁰ = +25 °C.
        assert_eq!(temperature(0x0190), 25.0);
        // The alert flags (TA ≥ TCRIT, > TUPPER, < TLOWER) do not count.
        assert_eq!(temperature(0xE190), 25.0);
        assert_eq!(temperature(0x0001), 0.0625);
        assert_eq!(temperature(0x0FFF), 255.9375);
        // Two's complement in 13 bits: 0x1FF0 is −1 °C (Equation 5-1 as printed
        // would give +1), 0x1FFF −0.0625 °C, 0x1D80 −40 °C (the rated minimum).
        assert_eq!(temperature(0x1FF0), -1.0);
        assert_eq!(temperature(0x1FFF), -0.0625);
        assert_eq!(temperature(0x1D80), -40.0);
        assert_eq!(temperature(0x3D80), -40.0);
        assert_eq!(temperature(0x1000), -256.0);
    }

    #[test]
    fn reads_the_temperature_without_writing() {
        let source = source();
        assert_eq!(source.names(), ["temperature_celsius"]);
        let mut steps = identified();
        steps.extend([
            Step::word(CONFIG, 0x0000),
            Step::word(AMBIENT_TEMPERATURE, 0xC190),
        ]);
        let mut bus = ScriptedBus::at(0x18, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(values, vec![("temperature_celsius".to_string(), 25.0)]);

        // A revision other than 0 in the device id's low byte is still an MCP9808.
        let mut steps = vec![Step::word(0x06, 0x0054), Step::word(0x07, 0x0401)];
        steps.extend([
            Step::word(CONFIG, 0x0000),
            Step::word(AMBIENT_TEMPERATURE, 0x1D80),
        ]);
        let mut bus = ScriptedBus::at(0x18, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(values[0].1, -40.0);
    }

    #[test]
    fn another_chip_fails_before_anything_else() {
        // A TI chip's manufacturer id at this address: nothing more is read or written.
        let mut bus = ScriptedBus::at(0x18, vec![Step::word(0x06, 0x5449)]);
        let error = source().read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x18: checking the manufacturer id: register 0x06 reads 0x5449, \
             not the MCP9808's manufacturer id 0x0054"
        );
        // Microchip's id, but another device (0x02, as an MCP9804's).
        let mut bus = ScriptedBus::at(
            0x18,
            vec![Step::word(0x06, 0x0054), Step::word(0x07, 0x0201)],
        );
        let error = source().read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x18: checking the device id: register 0x07 reads 0x0201, \
             not the MCP9808's device id 0x0400 in bits 0xff00"
        );
    }

    #[test]
    fn a_shut_down_chip_fails() {
        let mut steps = identified();
        steps.push(Step::word(CONFIG, SHUTDOWN));
        let mut bus = ScriptedBus::at(0x18, steps);
        let error = source().read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert!(
            error.to_string().starts_with(
                "i2c-1 address 0x18: reading the configuration: configuration 0x0100 has \
                 the shutdown bit set"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_nack_fails_the_read() {
        let mut bus = ScriptedBus::at(0x18, vec![Step::Fail(libc::ENXIO)]);
        let error = source().read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_nack(
            &error,
            "i2c-1 address 0x18: reading 2 bytes from register 0x06: ENXIO",
        );
    }
}
