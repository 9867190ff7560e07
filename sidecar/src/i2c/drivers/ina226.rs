//! TI INA226 current/power monitor (datasheet SBOS547): the INA2xx family's
//! register map and read (`ina2xx`), with the INA226's constants.
//!
//! Identified first by its manufacturer id (register 0xFE = 0x5449) and die id
//! (0xFF = 0x2260; bits 3..0 are the die revision and are not compared). Bus
//! voltage: register 0x02, 1.25 mV steps, unsigned (bit 15 is always 0). Shunt
//! voltage: 0x01, signed, 2.5 µV steps (±81.92 mV). Without options the driver
//! only reads these two.
//!
//! With `shunt_ohms` it programs the configuration to the power-up default 0x4127
//! (no averaging, 1.1 ms conversions, continuous shunt and bus) and the
//! calibration, Cal = trunc(0.00512 / (Current_LSB · R_shunt)) (section 7.5,
//! "Programming", Equations 1 and 2; bit 15 does not exist, so Cal is at most
//! 32767), and also reads current (0x04) and power (0x03, 25 current steps times
//! 1 V per step). The math overflow flag is bit 2 of the Mask/Enable register
//! (0x06); reading that register also clears its conversion-ready flag, which
//! nothing here uses.

use std::time::Duration;

use super::ina2xx::{self, Model, OverflowFlag};
use crate::i2c::driver::{Driver, DriverSpec, IdRegister};
use crate::i2c::error::I2cConfigError;
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "ina226",
    build,
};

/// The power-up configuration: AVG = 1, VBUSCT = VSHCT = 1.1 ms, continuous
/// shunt and bus; bit 14 reads 1 whatever is written.
const CONFIG_VALUE: u16 = 0x4127;
/// The shunt voltage's full scale: 32768 steps of 2.5 µV.
const SHUNT_RANGE_VOLTS: f64 = 0.08192;

/// After a new configuration the chip restarts its conversions; the current and
/// power registers use the new calibration once a shunt and a bus conversion
/// (1.1 ms each) have finished. About twice that.
const SETTLE: Duration = Duration::from_millis(5);

const MODEL: Model = Model {
    ids: &[
        IdRegister {
            what: "manufacturer id",
            register: 0xFE,
            mask: 0xFFFF,
            expected: 0x5449,
            chip: "INA226",
        },
        IdRegister {
            what: "die id",
            register: 0xFF,
            mask: 0xFFF0,
            expected: 0x2260,
            chip: "INA226",
        },
    ],
    calibration_scale: 0.00512,
    calibration_mask: 0x7FFF,
    calibration_max: 0x7FFF,
    power_per_current_step: 25.0,
    bus_voltage,
    shunt_volts_per_step: 2.5e-6,
    overflow: OverflowFlag::InRegister {
        register: 0x06,
        name: "reading the mask/enable register",
        bit: 0x0004,
    },
    settle: SETTLE,
};

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let shunt_ohms = keys.float("shunt_ohms")?;
    let max_current = keys.float("max_current_amps")?;
    ina2xx::build(
        keys,
        &MODEL,
        shunt_ohms,
        max_current,
        &[],
        CONFIG_VALUE,
        SHUNT_RANGE_VOLTS,
    )
}

/// Volts from the bus voltage register: 1.25 mV steps.
fn bus_voltage(register: u16) -> f64 {
    f64::from(register) * 1.25e-3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::{assert_close, assert_nack};
    use crate::i2c::drivers::ina2xx::{
        BUS_VOLTAGE, CALIBRATION, CONFIG, CURRENT, POWER, SHUNT_VOLTAGE,
    };
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    const MASK_ENABLE: u8 = 0x06;

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina226\"\n{options}");
        I2cSource::from_toml(&text, "ina226.toml").unwrap()
    }

    fn identified() -> Vec<Step> {
        vec![Step::word(0xFE, 0x5449), Step::word(0xFF, 0x2260)]
    }

    /// The datasheet's Table 1 (Configure/Measure/Calculate Example): 10 A through
    /// 2 mΩ at 12 V; Current_LSB 1 mA, so the maximum is 32768 × 1 mA.
    const TABLE_1: &str = "shunt_ohms = 0.002\nmax_current_amps = 32.768\n";

    fn table_1_readings() -> Vec<Step> {
        vec![
            // Step 3: bus 2570h = 9584 × 1.25 mV = 11.98 V.
            Step::word(BUS_VOLTAGE, 0x2570),
            // Step 2: shunt 1F40h = 8000 × 2.5 µV = 20 mV.
            Step::word(SHUNT_VOLTAGE, 0x1F40),
            Step::word(MASK_ENABLE, 0x0000),
            // Step 5: current 2710h = 10000 × 1 mA = 10 A.
            Step::word(CURRENT, 0x2710),
            // Step 6: power 12B8h = 4792 × 25 mW = 119.8 W.
            Step::word(POWER, 0x12B8),
        ]
    }

    #[test]
    fn the_datasheet_calibration_example() {
        // Step 4: Cal = 0.00512 / (1 mA × 2 mΩ) = 2560 (A00h).
        assert_eq!(MODEL.calibration_register(0.002, 32.768), Some(0x0A00));
        // The chip's own arithmetic in the example (Equations 3 and 4): current
        // = shunt × Cal / 2048, power = current × bus / 20000.
        assert_eq!(8000 * 2560 / 2048, 10000);
        assert_eq!(10000 * 9584 / 20000, 4792);
        // The default maximum, 81.92 mV / 0.1 Ω = 0.8192 A: 25 µA steps, Cal 2048.
        assert_eq!(MODEL.calibration_register(0.1, 0.8192), Some(2048));
        // 0.1 A through 0.1 mΩ would need Cal = 16777216, beyond the register's 15 bits.
        assert_eq!(MODEL.calibration_register(0.0001, 0.1), None);
        assert_close(MODEL.shunt_voltage(0x1F40), 0.02);
        assert_close(MODEL.shunt_voltage(0x8000), -0.08192);
        assert_close(bus_voltage(0x2570), 11.98);
    }

    #[test]
    fn calibrates_then_reads_the_datasheet_example() {
        let source = source(TABLE_1);
        assert_eq!(
            source.names(),
            [
                "bus_voltage_volts",
                "shunt_voltage_volts",
                "current_amperes",
                "power_watts"
            ]
        );
        // After a power cycle: the default configuration, calibration 0.
        let mut steps = identified();
        steps.extend([
            Step::word(CONFIG, 0x4127),
            Step::word(CALIBRATION, 0),
            Step::Write(vec![CONFIG, 0x41, 0x27]),
            Step::Write(vec![CALIBRATION, 0x0A, 0x00]),
        ]);
        steps.extend(table_1_readings());
        let mut bus = ScriptedBus::at(0x40, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![SETTLE]);
        for (value, expected) in values.iter().zip([11.98, 0.02, 10.0, 119.8]) {
            assert_close(value.1, expected);
        }

        // Already calibrated (a later revision in the die id's low bits): no write.
        let mut steps = vec![Step::word(0xFE, 0x5449), Step::word(0xFF, 0x2261)];
        steps.extend([Step::word(CONFIG, 0x4127), Step::word(CALIBRATION, 2560)]);
        steps.extend(table_1_readings());
        let mut bus = ScriptedBus::at(0x40, steps);
        source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert!(bus.waits.is_empty());
    }

    #[test]
    fn read_only_without_a_shunt() {
        let source = source("");
        assert_eq!(source.names(), ["bus_voltage_volts", "shunt_voltage_volts"]);
        let mut steps = identified();
        steps.extend([
            Step::word(BUS_VOLTAGE, 0x2570),
            Step::word(SHUNT_VOLTAGE, 0xE0C0),
        ]);
        let mut bus = ScriptedBus::at(0x40, steps);
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_close(values[0].1, 11.98);
        // E0C0h = −8000 steps: −20 mV.
        assert_close(values[1].1, -0.02);
    }

    #[test]
    fn another_chip_fails_before_anything_is_written() {
        // An INA3221 at the same address: TI's manufacturer id, another die.
        let source = source(TABLE_1);
        let mut bus = ScriptedBus::at(
            0x40,
            vec![Step::word(0xFE, 0x5449), Step::word(0xFF, 0x3220)],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x40: checking the die id: register 0xff reads 0x3220, \
             not the INA226's die id 0x2260 in bits 0xfff0"
        );
        // Not TI at all.
        let mut bus = ScriptedBus::at(0x40, vec![Step::word(0xFE, 0x0054)]);
        let error = source.read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x40: checking the manufacturer id: register 0xfe reads 0x0054, \
             not the INA226's manufacturer id 0x5449"
        );
    }

    #[test]
    fn an_overflow_fails_the_read() {
        let mut steps = identified();
        steps.extend([
            Step::word(CONFIG, 0x4127),
            Step::word(CALIBRATION, 2560),
            Step::word(BUS_VOLTAGE, 0x2570),
            Step::word(SHUNT_VOLTAGE, 0x7FFF),
            Step::word(MASK_ENABLE, 0x0004),
        ]);
        let mut bus = ScriptedBus::at(0x40, steps);
        let error = source(TABLE_1).read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert!(
            error.to_string().starts_with(
                "i2c-1 address 0x40: reading the mask/enable register: math overflow flag set"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_nack_fails_the_read() {
        let mut bus = ScriptedBus::at(0x40, vec![Step::Fail(libc::ENXIO)]);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_nack(
            &error,
            "i2c-1 address 0x40: reading 2 bytes from register 0xfe: ENXIO",
        );
    }

    #[test]
    fn option_errors_name_the_key() {
        let cases = [
            (
                "max_current_amps = 1\n",
                "max_current_amps",
                "only with shunt_ohms",
            ),
            ("shunt_ohms = -0.1\n", "shunt_ohms", "must be more than 0"),
            (
                "shunt_ohms = 0.0001\nmax_current_amps = 0.1\n",
                "max_current_amps",
                "0.1 A through 0.0001 Ω does not fit the calibration register \
                 (max_current_amps × shunt_ohms must be from 0.00512 to 168 V)",
            ),
            (
                "shunt_range_volts = 0.04\n",
                "shunt_range_volts",
                "unknown key",
            ),
        ];
        for (options, key, message) in cases {
            let text = format!("bus = 1\naddress = 0x40\ndriver = \"ina226\"\n{options}");
            let error = I2cSource::from_toml(&text, "ina226.toml").unwrap_err();
            let line = 3 + options.lines().count();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("ina226.toml:{line}: {key}: {message}")),
                "{error}"
            );
        }
    }
}
