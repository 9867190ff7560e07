//! TI INA219 current/power monitor: 16-bit big-endian registers behind a pointer.
//!
//! Without options the driver only reads — bus voltage (register 0x02, bits 15..3
//! in 4 mV steps) and shunt voltage (0x01, signed, 10 µV steps) — so it can share
//! a chip the kernel's ina2xx driver holds (with force = true).
//!
//! With `shunt_ohms` it owns the chip: it programs the configuration (bus range,
//! shunt range, 12-bit conversions, continuous shunt and bus) and the calibration
//! register the datasheet derives from the shunt and the largest expected current,
//! then also reads current (0x04) and power (0x03). Both registers stay 0 until
//! the chip is calibrated, and a power cycle clears the calibration: each read
//! checks it and writes it again if it changed.

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{float_choice, value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "ina219",
    build,
};

const CONFIG: u8 = 0x00;
const SHUNT_VOLTAGE: u8 = 0x01;
const BUS_VOLTAGE: u8 = 0x02;
const POWER: u8 = 0x03;
const CURRENT: u8 = 0x04;
const CALIBRATION: u8 = 0x05;

/// Bus voltage register flags: the math overflowed (current or power is beyond
/// what the calibration can represent).
const OVERFLOW: u16 = 0x0001;

/// The datasheet's fixed scaling constant in Cal = trunc(0.04096 / (Current_LSB × R)).
const CALIBRATION_SCALE: f64 = 0.04096;

/// After a new configuration the chip restarts its conversions; the current and
/// power registers use the new calibration once a shunt and a bus conversion
/// (12-bit: 586 µs each at most) have finished. Twice that, rounded up.
const SETTLE: Duration = Duration::from_millis(3);

/// Shunt ranges (PGA gain /1, /2, /4, /8), by their PG bits.
const SHUNT_RANGES: [f64; 4] = [0.04, 0.08, 0.16, 0.32];
/// Bus ranges by their BRNG bit.
const BUS_RANGES: [f64; 2] = [16.0, 32.0];

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let shunt_ohms = keys.float("shunt_ohms")?;
    let max_current = keys.float("max_current_amps")?;
    let shunt_range = float_choice(keys, "shunt_range_volts", &SHUNT_RANGES)?;
    let bus_range = float_choice(keys, "bus_range_volts", &BUS_RANGES)?;
    let Some(shunt_ohms) = shunt_ohms else {
        for (key, given) in [
            ("max_current_amps", max_current.is_some()),
            ("shunt_range_volts", shunt_range.is_some()),
            ("bus_range_volts", bus_range.is_some()),
        ] {
            if given {
                return Err(keys.error(
                    key,
                    "only with shunt_ohms (without it the driver never writes to the chip)",
                ));
            }
        }
        return Ok(Box::new(Ina219 { calibration: None }));
    };
    if shunt_ohms <= 0.0 {
        return Err(keys.error("shunt_ohms", "must be more than 0"));
    }
    let pg = shunt_range.unwrap_or(3);
    let brng = bus_range.unwrap_or(1);
    let shunt_volts = SHUNT_RANGES[pg];
    let max_current = max_current.unwrap_or(shunt_volts / shunt_ohms);
    if max_current <= 0.0 {
        return Err(keys.error("max_current_amps", "must be more than 0"));
    }
    let register = calibration_register(shunt_ohms, max_current).ok_or_else(|| {
        keys.error(
            "max_current_amps",
            format!(
                "{max_current} A through {shunt_ohms} Ω does not fit the calibration register \
                 (max_current_amps × shunt_ohms must be from 0.02048 to 671 V)"
            ),
        )
    })?;
    let config = (brng as u16) << 13
        | (pg as u16) << 11
        // 12-bit bus and shunt conversions, continuous shunt and bus.
        | 0b0011 << 7
        | 0b0011 << 3
        | 0b111;
    Ok(Box::new(Ina219 {
        calibration: Some(Calibration {
            config,
            register,
            current_lsb: CALIBRATION_SCALE / (f64::from(register) * shunt_ohms),
        }),
    }))
}

/// Cal = trunc(0.04096 / (Current_LSB × R_shunt)) with Current_LSB = max / 2¹⁵
/// (datasheet, "Programming the Calibration Register"). Bit 0 does not exist in
/// the chip, so it is cleared here and the written value reads back the same.
fn calibration_register(shunt_ohms: f64, max_current: f64) -> Option<u16> {
    let current_lsb = max_current / 32768.0;
    // Dividing exact decimals in binary lands a hair under integers (4095.99…
    // for 4096): trunc would then lose a whole step.
    let exact = CALIBRATION_SCALE / (current_lsb * shunt_ohms) * (1.0 + 1e-12);
    let register = exact.trunc();
    if !(2.0..=65535.0).contains(&register) {
        return None;
    }
    Some(register as u16 & !1)
}

/// Volts from the bus voltage register: bits 15..3 count 4 mV.
fn bus_voltage(register: u16) -> f64 {
    f64::from(register >> 3) * 4.0 / 1000.0
}

/// Volts from the shunt voltage register: signed, 10 µV steps at every gain.
fn shunt_voltage(register: u16) -> f64 {
    f64::from(register as i16) / 100_000.0
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Calibration {
    config: u16,
    register: u16,
    /// Amperes per step of the current register; a power step is 20 of them
    /// times a volt.
    current_lsb: f64,
}

#[derive(Debug)]
struct Ina219 {
    calibration: Option<Calibration>,
}

impl Driver for Ina219 {
    fn values(&self) -> Vec<(String, String)> {
        let mut values = vec![
            ("bus_voltage", "bus_voltage_volts"),
            ("shunt_voltage", "shunt_voltage_volts"),
        ];
        if self.calibration.is_some() {
            values.extend([("current", "current_amperes"), ("power", "power_watts")]);
        }
        value_names(&values)
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        if let Some(calibration) = &self.calibration {
            let config = chip.read_register_u16_be(CONFIG)?;
            let register = chip.read_register_u16_be(CALIBRATION)?;
            if config != calibration.config || register != calibration.register {
                chip.write_register_u16_be(CONFIG, calibration.config)?;
                chip.write_register_u16_be(CALIBRATION, calibration.register)?;
                chip.wait(SETTLE)?;
            }
        }
        let bus = chip.read_register_u16_be(BUS_VOLTAGE)?;
        let shunt = chip.read_register_u16_be(SHUNT_VOLTAGE)?;
        let mut values = vec![bus_voltage(bus), shunt_voltage(shunt)];
        if let Some(calibration) = &self.calibration {
            if bus & OVERFLOW != 0 {
                return Err(chip.error(
                    "reading the bus voltage register",
                    ReadFailure::Device(
                        "math overflow flag set: the current is beyond the calibrated range \
                         (raise max_current_amps)"
                            .into(),
                    ),
                ));
            }
            let current = chip.read_register_u16_be(CURRENT)? as i16;
            let power = chip.read_register_u16_be(POWER)?;
            values.push(f64::from(current) * calibration.current_lsb);
            values.push(f64::from(power) * 20.0 * calibration.current_lsb);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina219\"\n{options}");
        I2cSource::from_toml(&text, "ina219.toml").unwrap()
    }

    fn word(register: u8, value: u16) -> Step {
        Step::WriteRead(vec![register], value.to_be_bytes().to_vec())
    }

    #[test]
    fn register_scaling_matches_the_datasheet() {
        // Shunt voltage register examples at PGA /8: 0x7D00 = +320 mV, 0x8300 = -320 mV.
        assert_close(shunt_voltage(0x7D00), 0.32);
        assert_close(shunt_voltage(0x8300), -0.32);
        assert_close(shunt_voltage(0x0001), 0.000_01);
        // Bus voltage: 12 V is 3000 steps of 4 mV in bits 15..3; the flags do not count.
        assert_close(bus_voltage(3000 << 3 | 0b10), 12.0);
        assert_close(bus_voltage(0xFFF8), 32.764);
    }

    #[test]
    fn calibration_follows_the_datasheet_formula() {
        // 0.1 Ω, 3.2768 A: Current_LSB 100 µA, Cal = 0.04096 / (0.0001 × 0.1) = 4096.
        assert_eq!(calibration_register(0.1, 3.2768), Some(4096));
        // The default maximum, 0.32 V / 0.1 Ω = 3.2 A: trunc(4194.304) = 4194.
        assert_eq!(calibration_register(0.1, 3.2), Some(4194));
        // An odd result loses its bit 0, which the chip does not have.
        assert_eq!(
            calibration_register(1.0, 0.32768 / 4097.0 * 4096.0),
            Some(4096)
        );
        assert_eq!(calibration_register(0.001, 1.0), None);
    }

    #[test]
    fn read_only_without_a_shunt() {
        let source = source("");
        assert_eq!(source.names(), ["bus_voltage_volts", "shunt_voltage_volts"]);
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                word(BUS_VOLTAGE, 3000 << 3 | 0b10),
                word(SHUNT_VOLTAGE, 0x8300),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_close(values[0].1, 12.0);
        assert_close(values[1].1, -0.32);
    }

    #[test]
    fn calibrates_then_reads_current_and_power() {
        let source = source("shunt_ohms = 0.1\nmax_current_amps = 3.2768\n");
        assert_eq!(
            source.names(),
            [
                "bus_voltage_volts",
                "shunt_voltage_volts",
                "current_amperes",
                "power_watts"
            ]
        );
        // 20 mV across 0.1 Ω at 12 V: 0.2 A (2000 steps of 100 µA), 2.4 W (1200
        // steps of 2 mW).
        let readings = vec![
            word(BUS_VOLTAGE, 3000 << 3 | 0b10),
            word(SHUNT_VOLTAGE, 2000),
            word(CURRENT, 2000),
            word(POWER, 1200),
        ];
        // After a power cycle: default configuration, calibration 0.
        let mut steps = vec![
            word(CONFIG, 0x399F),
            word(CALIBRATION, 0),
            Step::Write(vec![CONFIG, 0x39, 0x9F]),
            Step::Write(vec![CALIBRATION, 0x10, 0x00]),
        ];
        steps.extend(readings.clone());
        let mut bus = ScriptedBus::at(0x40, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![SETTLE]);
        let expected = [12.0, 0.02, 0.2, 2.4];
        for (value, expected) in values.iter().zip(expected) {
            assert_close(value.1, expected);
        }

        // Already calibrated: nothing written, no wait.
        let mut steps = vec![word(CONFIG, 0x399F), word(CALIBRATION, 4096)];
        steps.extend(readings);
        let mut bus = ScriptedBus::at(0x40, steps);
        source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert!(bus.waits.is_empty());
    }

    #[test]
    fn ranges_set_the_configuration() {
        let source = source("shunt_ohms = 0.01\nshunt_range_volts = 0.04\nbus_range_volts = 16\n");
        // BRNG 0, PG 00, 12-bit conversions, continuous: 0x019F; Cal for 4 A through
        // 0.01 Ω: 0.04096 / (4 / 32768 × 0.01) = 33554.432 → 33554.
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                word(CONFIG, 0x399F),
                word(CALIBRATION, 0),
                Step::Write(vec![CONFIG, 0x01, 0x9F]),
                Step::Write(vec![CALIBRATION, 0x83, 0x12]),
                word(BUS_VOLTAGE, 0),
                word(SHUNT_VOLTAGE, 0),
                word(CURRENT, 0xFFFF),
                word(POWER, 0),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_close(values[2].1, -0.04096 / (33554.0 * 0.01));
    }

    #[test]
    fn an_overflow_fails_the_read() {
        let source = source("shunt_ohms = 0.1\n");
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                word(CONFIG, 0x399F),
                word(CALIBRATION, 4194),
                word(BUS_VOLTAGE, 3000 << 3 | 0b11),
                word(SHUNT_VOLTAGE, 0x7D00),
            ],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("i2c-1 address 0x40: reading the bus voltage register: math overflow"),
            "{error}"
        );
    }

    #[test]
    fn option_errors_name_the_key() {
        let cases = [
            ("max_current_amps = 1\n", "max_current_amps"),
            ("shunt_ohms = 0\n", "shunt_ohms"),
            (
                "shunt_ohms = 0.1\nshunt_range_volts = 0.05\n",
                "shunt_range_volts",
            ),
            (
                "shunt_ohms = 0.1\nmax_current_amps = 10000\n",
                "max_current_amps",
            ),
            (
                "shunt_ohms = 0.1\nmax_current_amps = 0.1\n",
                "max_current_amps",
            ),
            ("shunt_ohms = \"0.1\"\n", "shunt_ohms"),
        ];
        for (options, key) in cases {
            let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina219\"\n{options}");
            let error = I2cSource::from_toml(&text, "ina219.toml").unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{options}: {error}");
            // Each case's offending key is on its last line.
            let line = 3 + options.lines().count();
            assert_eq!(error.line, Some(line), "{options}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("ina219.toml:{line}: {key}: ")),
                "{error}"
            );
        }
    }
}
