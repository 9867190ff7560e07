//! TI INA219 current/power monitor: the INA2xx family's register map and read
//! (`ina2xx`), with the INA219's constants and options.
//!
//! Bus voltage: register 0x02, bits 15..3 in 4 mV steps, bit 0 the math overflow
//! flag. Shunt voltage: 0x01, signed, 10 µV steps at every gain. The chip has no
//! id register. Without options the driver only reads these two.
//!
//! With `shunt_ohms` it programs the configuration (bus range, shunt range, 12-bit
//! conversions, continuous shunt and bus) and the calibration, Cal =
//! trunc(0.04096 / (Current_LSB · R_shunt)) (datasheet, "Programming the
//! Calibration Register"; bit 0 does not exist in the chip, so it is cleared and
//! the written value reads back the same), and also reads current (0x04) and power
//! (0x03, 20 current steps times 1 V per step).

use std::time::Duration;

use super::ina2xx::{self, Model, OverflowFlag};
use crate::i2c::driver::{float_choice, Driver, DriverSpec};
use crate::i2c::error::I2cConfigError;
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "ina219",
    build,
};

/// After a new configuration the chip restarts its conversions; the current and
/// power registers use the new calibration once a shunt and a bus conversion
/// (12-bit: 586 µs each at most) have finished. Twice that, rounded up.
const SETTLE: Duration = Duration::from_millis(3);

const MODEL: Model = Model {
    ids: &[],
    calibration_scale: 0.04096,
    calibration_mask: 0xFFFE,
    calibration_max: 0xFFFF,
    power_per_current_step: 20.0,
    bus_voltage,
    shunt_volts_per_step: 10e-6,
    overflow: OverflowFlag::InBusVoltage(0x0001),
    settle: SETTLE,
};

/// Shunt ranges (PGA gain /1, /2, /4, /8), by their PG bits.
const SHUNT_RANGES: [f64; 4] = [0.04, 0.08, 0.16, 0.32];
/// Bus ranges by their BRNG bit.
const BUS_RANGES: [f64; 2] = [16.0, 32.0];

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let shunt_ohms = keys.float("shunt_ohms")?;
    let max_current = keys.float("max_current_amps")?;
    let shunt_range = float_choice(keys, "shunt_range_volts", &SHUNT_RANGES)?;
    let bus_range = float_choice(keys, "bus_range_volts", &BUS_RANGES)?;
    let pg = shunt_range.unwrap_or(3);
    let brng = bus_range.unwrap_or(1);
    let config = (brng as u16) << 13
        | (pg as u16) << 11
        // 12-bit bus and shunt conversions, continuous shunt and bus.
        | 0b0011 << 7
        | 0b0011 << 3
        | 0b111;
    ina2xx::build(
        keys,
        &MODEL,
        shunt_ohms,
        max_current,
        &[
            ("shunt_range_volts", shunt_range.is_some()),
            ("bus_range_volts", bus_range.is_some()),
        ],
        config,
        SHUNT_RANGES[pg],
    )
}

/// Volts from the bus voltage register: bits 15..3 count 4 mV.
fn bus_voltage(register: u16) -> f64 {
    f64::from(register >> 3) * 4.0 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::drivers::ina2xx::{
        BUS_VOLTAGE, CALIBRATION, CONFIG, CURRENT, POWER, SHUNT_VOLTAGE,
    };
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina219\"\n{options}");
        I2cSource::from_toml(&text, "ina219.toml").unwrap()
    }

    #[test]
    fn register_scaling_matches_the_datasheet() {
        // Shunt voltage register examples at PGA /8: 0x7D00 = +320 mV, 0x8300 = -320 mV.
        assert_close(MODEL.shunt_voltage(0x7D00), 0.32);
        assert_close(MODEL.shunt_voltage(0x8300), -0.32);
        assert_close(MODEL.shunt_voltage(0x0001), 0.000_01);
        // Bus voltage: 12 V is 3000 steps of 4 mV in bits 15..3; the flags do not count.
        assert_close(bus_voltage(3000 << 3 | 0b10), 12.0);
        assert_close(bus_voltage(0xFFF8), 32.764);
    }

    #[test]
    fn calibration_follows_the_datasheet_formula() {
        // 0.1 Ω, 3.2768 A: Current_LSB 100 µA, Cal = 0.04096 / (0.0001 × 0.1) = 4096.
        assert_eq!(MODEL.calibration_register(0.1, 3.2768), Some(4096));
        // The default maximum, 0.32 V / 0.1 Ω = 3.2 A: trunc(4194.304) = 4194.
        assert_eq!(MODEL.calibration_register(0.1, 3.2), Some(4194));
        // An odd result loses its bit 0, which the chip does not have.
        assert_eq!(
            MODEL.calibration_register(1.0, 0.32768 / 4097.0 * 4096.0),
            Some(4096)
        );
        assert_eq!(MODEL.calibration_register(0.001, 1.0), None);
    }

    #[test]
    fn read_only_without_a_shunt() {
        let source = source("");
        assert_eq!(source.names(), ["bus_voltage_volts", "shunt_voltage_volts"]);
        let mut bus = ScriptedBus::at(
            0x40,
            vec![
                Step::word(BUS_VOLTAGE, 3000 << 3 | 0b10),
                Step::word(SHUNT_VOLTAGE, 0x8300),
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
            Step::word(BUS_VOLTAGE, 3000 << 3 | 0b10),
            Step::word(SHUNT_VOLTAGE, 2000),
            Step::word(CURRENT, 2000),
            Step::word(POWER, 1200),
        ];
        // After a power cycle: default configuration, calibration 0.
        let mut steps = vec![
            Step::word(CONFIG, 0x399F),
            Step::word(CALIBRATION, 0),
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
        let mut steps = vec![Step::word(CONFIG, 0x399F), Step::word(CALIBRATION, 4096)];
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
                Step::word(CONFIG, 0x399F),
                Step::word(CALIBRATION, 0),
                Step::Write(vec![CONFIG, 0x01, 0x9F]),
                Step::Write(vec![CALIBRATION, 0x83, 0x12]),
                Step::word(BUS_VOLTAGE, 0),
                Step::word(SHUNT_VOLTAGE, 0),
                Step::word(CURRENT, 0xFFFF),
                Step::word(POWER, 0),
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
                Step::word(CONFIG, 0x399F),
                Step::word(CALIBRATION, 4194),
                Step::word(BUS_VOLTAGE, 3000 << 3 | 0b11),
                Step::word(SHUNT_VOLTAGE, 0x7D00),
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
