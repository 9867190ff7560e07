//! TI INA3221 three-channel shunt and bus voltage monitor (datasheet SBOS576,
//! section 7.6 "Register Maps"): checks the manufacturer id (register 0xFE =
//! 0x5449) and the die id (0xFF = 0x3220), then reads each channel's shunt voltage
//! (0x01, 0x03, 0x05) and bus voltage (0x02, 0x04, 0x06): signed 13-bit numbers in
//! bits 15..3, 40 µV and 8 mV per step. The current is computed here from the
//! shunt voltage and the channel's shunt resistance (the chip has no current
//! register).
//!
//! The chip measures all three channels continuously from power-up (configuration
//! 0x7127), so the driver never writes to it and can share it with the kernel's
//! `ina3221` driver (`force = true`). It reads the configuration register (0x00)
//! first: a channel it should read must be enabled, and the mode must be
//! continuous shunt and bus, or the registers hold stale values and the read fails.
//!
//! Options: `channels` (default `[1, 2, 3]`) and `shunt_ohms` (one per channel,
//! default 0.1 Ω each, as on the common breakout boards). Values per channel N:
//! `chN_bus_voltage_volts`, `chN_shunt_voltage_volts`, `chN_current_amperes`.

use crate::i2c::chip::Chip;
use crate::i2c::driver::{Driver, DriverSpec, IdRegister};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "ina3221",
    build,
};

const CHANNELS: usize = 3;
const DEFAULT_SHUNT_OHMS: f64 = 0.1;

const CONFIG: u8 = 0x00;
/// Configuration bits 14, 13, 12: channel 1, 2, 3 enabled.
const CHANNEL_ENABLE: [u16; CHANNELS] = [0x4000, 0x2000, 0x1000];
/// Configuration bits 2..0, the mode; 0b111 is continuous shunt and bus.
const MODE: u16 = 0b111;
const CONTINUOUS_SHUNT_AND_BUS: u16 = 0b111;

const SHUNT_VOLTS_PER_STEP: f64 = 40e-6;
const BUS_VOLTS_PER_STEP: f64 = 8e-3;

const IDS: [IdRegister; 2] = [
    IdRegister {
        what: "manufacturer id",
        register: 0xFE,
        mask: 0xFFFF,
        expected: 0x5449,
        chip: "INA3221",
    },
    IdRegister {
        what: "die id",
        register: 0xFF,
        mask: 0xFFFF,
        expected: 0x3220,
        chip: "INA3221",
    },
];

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let numbers = keys.bytes("channels", 1..=CHANNELS)?;
    let mut channels = Vec::with_capacity(CHANNELS);
    for (index, &number) in numbers.as_deref().unwrap_or(&[1, 2, 3]).iter().enumerate() {
        if !(1..=CHANNELS as u8).contains(&number) {
            return Err(keys.string_error(
                "channels",
                index,
                format!("{number} is not a channel (1, 2 or 3)"),
            ));
        }
        if channels.contains(&number) {
            return Err(keys.string_error(
                "channels",
                index,
                format!("channel {number} is listed twice"),
            ));
        }
        channels.push(number);
    }
    let shunt_ohms = match keys.floats("shunt_ohms", CHANNELS)? {
        Some(ohms) => {
            if let Some(index) = ohms.iter().position(|&r| r <= 0.0) {
                return Err(keys.string_error("shunt_ohms", index, "must be more than 0"));
            }
            ohms
        }
        None => vec![DEFAULT_SHUNT_OHMS; CHANNELS],
    };
    Ok(Box::new(Ina3221 {
        channels: channels
            .into_iter()
            .map(|number| Channel {
                number,
                shunt_ohms: shunt_ohms[usize::from(number - 1)],
            })
            .collect(),
    }))
}

/// Volts from a shunt or bus voltage register: a signed number in bits 15..3.
fn volts(register: u16, volts_per_step: f64) -> f64 {
    f64::from(register as i16 >> 3) * volts_per_step
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    /// 1 to 3, as the datasheet numbers them.
    number: u8,
    shunt_ohms: f64,
}

impl Channel {
    fn shunt_register(&self) -> u8 {
        2 * self.number - 1
    }

    fn bus_register(&self) -> u8 {
        2 * self.number
    }

    fn enable_bit(&self) -> u16 {
        CHANNEL_ENABLE[usize::from(self.number - 1)]
    }
}

#[derive(Debug)]
struct Ina3221 {
    channels: Vec<Channel>,
}

impl Driver for Ina3221 {
    fn values(&self) -> Vec<(String, String)> {
        let mut values = Vec::with_capacity(3 * self.channels.len());
        for channel in &self.channels {
            let n = channel.number;
            for (key, unit) in [
                ("bus_voltage", "volts"),
                ("shunt_voltage", "volts"),
                ("current", "amperes"),
            ] {
                values.push((format!("ch{n}_{key}"), format!("ch{n}_{key}_{unit}")));
            }
        }
        values
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        for id in &IDS {
            id.check(chip)?;
        }
        let config = chip.read_register_u16_be(CONFIG)?;
        if config & MODE != CONTINUOUS_SHUNT_AND_BUS {
            return Err(chip.error(
                "reading the configuration",
                ReadFailure::Device(format!(
                    "configuration {config:#06x}: mode {:#05b} is not continuous shunt and \
                     bus ({CONTINUOUS_SHUNT_AND_BUS:#05b}), the voltage registers are stale",
                    config & MODE
                )),
            ));
        }
        if let Some(channel) = self.channels.iter().find(|c| config & c.enable_bit() == 0) {
            return Err(chip.error(
                "reading the configuration",
                ReadFailure::Device(format!(
                    "configuration {config:#06x}: channel {} is disabled",
                    channel.number
                )),
            ));
        }
        let mut values = Vec::with_capacity(3 * self.channels.len());
        for channel in &self.channels {
            let bus = chip.read_register_u16_be(channel.bus_register())?;
            let shunt = volts(
                chip.read_register_u16_be(channel.shunt_register())?,
                SHUNT_VOLTS_PER_STEP,
            );
            values.extend([
                volts(bus, BUS_VOLTS_PER_STEP),
                shunt,
                shunt / channel.shunt_ohms,
            ]);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::{assert_close, assert_nack};
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    /// The configuration after power-up: all channels, continuous shunt and bus.
    const DEFAULT_CONFIG: u16 = 0x7127;

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina3221\"\n{options}");
        I2cSource::from_toml(&text, "ina3221.toml").unwrap()
    }

    fn identified(config: u16) -> Vec<Step> {
        vec![
            Step::word(0xFE, 0x5449),
            Step::word(0xFF, 0x3220),
            Step::word(CONFIG, config),
        ]
    }

    fn assert_values(actual: &[(String, f64)], expected: &[(&str, f64)]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?}");
        for ((name, value), (expected_name, expected_value)) in actual.iter().zip(expected) {
            assert_eq!(name, expected_name);
            assert_close(*value, *expected_value);
        }
    }

    #[test]
    fn register_values_from_the_datasheet() {
        // Section 7.6.2.2: VSHUNT = −80 mV is 2000 steps of 40 µV, two's
        // complement in bits 15..3: C180h. Full scale 163.8 mV is 7FF8h.
        assert_close(volts(0xC180, SHUNT_VOLTS_PER_STEP), -0.08);
        assert_close(volts(0x7FF8, SHUNT_VOLTS_PER_STEP), 0.1638);
        // Bits 2..0 are reserved and do not count.
        assert_close(volts(0x7FFF, SHUNT_VOLTS_PER_STEP), 0.1638);
        // Section 7.6.2.3: bus full scale 32.76 V is 7FF8h, 8 mV steps.
        assert_close(volts(0x7FF8, BUS_VOLTS_PER_STEP), 32.76);
        assert_close(volts(0x0008, BUS_VOLTS_PER_STEP), 0.008);
    }

    #[test]
    fn reads_all_three_channels_without_writing() {
        let source = source("shunt_ohms = [0.1, 0.05, 1]\n");
        let mut steps = identified(DEFAULT_CONFIG);
        steps.extend([
            // Channel 1: 12 V (1500 steps), −80 mV (the datasheet's C180h) → −0.8 A.
            Step::word(0x02, 1500 << 3),
            Step::word(0x01, 0xC180),
            // Channel 2: full scale both: 32.76 V, 163.8 mV / 0.05 Ω = 3.276 A.
            Step::word(0x04, 0x7FF8),
            Step::word(0x03, 0x7FF8),
            // Channel 3: 5 V (625 steps), 40 µV (one step) / 1 Ω = 40 µA.
            Step::word(0x06, 625 << 3),
            Step::word(0x05, 1 << 3),
        ]);
        let mut bus = ScriptedBus::at(0x40, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_values(
            &values,
            &[
                ("ch1_bus_voltage_volts", 12.0),
                ("ch1_shunt_voltage_volts", -0.08),
                ("ch1_current_amperes", -0.8),
                ("ch2_bus_voltage_volts", 32.76),
                ("ch2_shunt_voltage_volts", 0.1638),
                ("ch2_current_amperes", 3.276),
                ("ch3_bus_voltage_volts", 5.0),
                ("ch3_shunt_voltage_volts", 40e-6),
                ("ch3_current_amperes", 40e-6),
            ],
        );
    }

    #[test]
    fn reads_a_subset_of_channels() {
        // Channel 1 disabled (bit 14 clear) does not matter when it is not read.
        let source = source("channels = [3, 2]\n");
        let mut steps = identified(DEFAULT_CONFIG & !0x4000);
        steps.extend([
            Step::word(0x06, 625 << 3),
            Step::word(0x05, 0xC180),
            Step::word(0x04, 1500 << 3),
            Step::word(0x03, 250 << 3),
        ]);
        let mut bus = ScriptedBus::at(0x40, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        // The default 0.1 Ω shunts: −80 mV → −0.8 A, 10 mV → 0.1 A.
        assert_values(
            &values,
            &[
                ("ch3_bus_voltage_volts", 5.0),
                ("ch3_shunt_voltage_volts", -0.08),
                ("ch3_current_amperes", -0.8),
                ("ch2_bus_voltage_volts", 12.0),
                ("ch2_shunt_voltage_volts", 0.01),
                ("ch2_current_amperes", 0.1),
            ],
        );
    }

    #[test]
    fn another_chip_fails_before_anything_else() {
        // An INA226 answers at the same addresses with TI's manufacturer id.
        let mut bus = ScriptedBus::at(
            0x40,
            vec![Step::word(0xFE, 0x5449), Step::word(0xFF, 0x2260)],
        );
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x40: checking the die id: register 0xff reads 0x2260, \
             not the INA3221's die id 0x3220"
        );
    }

    #[test]
    fn stale_registers_fail_the_read() {
        // Power-down mode.
        let mut bus = ScriptedBus::at(0x40, identified(0x7120));
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x40: reading the configuration: configuration 0x7120: mode 0b000 \
             is not continuous shunt and bus (0b111), the voltage registers are stale"
        );
        // Channel 2 disabled and asked for.
        let mut bus = ScriptedBus::at(0x40, identified(0x5127));
        let error = source("channels = [1, 2]\n")
            .read_with(&mut bus)
            .unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x40: reading the configuration: configuration 0x5127: channel 2 \
             is disabled"
        );
    }

    #[test]
    fn a_nack_fails_the_read() {
        let mut steps = identified(DEFAULT_CONFIG);
        steps.extend([Step::word(0x02, 0), Step::Fail(libc::EREMOTEIO)]);
        let mut bus = ScriptedBus::at(0x40, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_nack(
            &error,
            "i2c-1 address 0x40: reading 2 bytes from register 0x01: EREMOTEIO",
        );
    }

    #[test]
    fn option_errors_name_the_key() {
        let cases = [
            (
                "channels = [4]\n",
                "channels[0]",
                "4 is not a channel (1, 2 or 3)",
            ),
            (
                "channels = [1, 1]\n",
                "channels[1]",
                "channel 1 is listed twice",
            ),
            (
                "channels = []\n",
                "channels",
                "has 0 bytes, must have 1 to 3",
            ),
            (
                "shunt_ohms = [0.1, 0.1]\n",
                "shunt_ohms",
                "has 2 numbers, must have 3",
            ),
            (
                "shunt_ohms = [0.1, 0, 0.1]\n",
                "shunt_ohms[1]",
                "must be more than 0",
            ),
            (
                "shunt_ohms = [0.1, \"a\", 0.1]\n",
                "shunt_ohms[1]",
                "must be a finite number",
            ),
            (
                "shunt_ohms = 0.1\n",
                "shunt_ohms",
                "expected an array, found float",
            ),
        ];
        for (options, key, message) in cases {
            let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina3221\"\n{options}");
            let error = I2cSource::from_toml(&text, "ina3221.toml").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("ina3221.toml:4: {key}: {message}"),
                "{options}"
            );
        }
    }
}
