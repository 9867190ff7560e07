//! Sensirion SCD40/SCD41 CO₂ sensors (photoacoustic NDIR, with temperature and
//! humidity), following the SCD4x datasheet (version 1.5, July 2023), §3.
//!
//! The chip measures on its own: once started, periodic measurement gives new
//! values every 5 s (`start_periodic_measurement`, 0x21B1; §3.5.1), or every 30 s
//! in low power mode (0x21AC; §3.8.1), longer than a run may wait. So a run does
//! not start and wait; it asks `get_data_ready_status` (0xE4B8, §3.8.2: ready when
//! the low 11 bits of the word are not 0) and, when ready, reads
//! `read_measurement` (0xEC05, §3.5.2: CO₂ in ppm, T = −45 + 175 · word / (2¹⁶ − 1),
//! RH = 100 · word / (2¹⁶ − 1); each word CRC-checked). Reading empties the
//! chip's buffer, so a source scheduled more often than the chip measures finds
//! nothing new on some runs.
//!
//! When no data is ready the chip is either idle (after power-up it enters the
//! idle state, §3.1: periodic mode is not remembered) or measuring between two
//! values. Table 9 (§3.4) says which commands run "during measurement":
//! `get_serial_number` (0x3682, §3.9.2) does not, and Sensirion describes the
//! chip as not answering such commands while it measures (their reply in
//! Sensirion/raspberry-pi-i2c-scd4x issue 6). The
//! driver uses that to tell the two apart, and as the chip's identification:
//! - the serial number answers, three words with valid CRCs: an idle SCD4x. The
//!   driver starts periodic measurement (the only write it ever makes, and only
//!   to a chip that identified itself) and fails this run with "measurement
//!   started, first values in 5 s";
//! - the serial number is not acknowledged: a measuring chip whose next value is
//!   not there yet; the run fails saying so, and changes nothing.
//!
//! Not chosen: sending start_periodic_measurement whenever data is not ready and
//! reading a NACK as "already measuring" — that sends a write to a chip nobody
//! identified, and is as much outside §3.5's "no other commands while measuring".
//! Polling data-ready until the next value: up to 5 s (30 s), past the 1 s a run
//! may wait.
//!
//! Surprising: the datasheet's own read_measurement example (Table 11) prints the
//! CRC of 0x01F4 as 0x7B; the algorithm of §3.11 (whose example CRC(0xBEEF) = 0x92
//! it reproduces, as it does the 0xA2 and 0x3C of that same example) gives 0x33.
//! A chip sends 0x33; the tests hold both.

use std::time::Duration;

use super::sensirion::{is_nack, read_words, send};
use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "scd4x",
    build,
};

const GET_DATA_READY_STATUS: u16 = 0xE4B8;
const READ_MEASUREMENT: u16 = 0xEC05;
const GET_SERIAL_NUMBER: u16 = 0x3682;
/// §3.8.2: the data-ready bits of the get_data_ready_status word.
const DATA_READY_BITS: u16 = 0x07FF;
/// Table 9: the execution time of every read command used here.
const EXECUTION: Duration = Duration::from_millis(1);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let mode = match keys.boolean("low_power")? {
        Some(true) => Mode::LowPower,
        _ => Mode::Periodic,
    };
    Ok(Box::new(Scd4x { mode }))
}

/// Which periodic measurement the driver starts on an idle chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Periodic,
    LowPower,
}

impl Mode {
    fn start_command(self) -> u16 {
        match self {
            Mode::Periodic => 0x21B1,
            Mode::LowPower => 0x21AC,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Periodic => "periodic measurement",
            Mode::LowPower => "low power periodic measurement",
        }
    }

    fn interval_seconds(self) -> u32 {
        match self {
            Mode::Periodic => 5,
            Mode::LowPower => 30,
        }
    }
}

/// §3.5.2, with the (2¹⁶ − 1) of datasheet version 1.5.
fn temperature(raw: u16) -> f64 {
    -45.0 + 175.0 * f64::from(raw) / 65535.0
}

fn humidity(raw: u16) -> f64 {
    100.0 * f64::from(raw) / 65535.0
}

#[derive(Debug)]
struct Scd4x {
    mode: Mode,
}

impl Scd4x {
    /// No data ready: start an idle chip, or report that a measuring one has
    /// nothing new yet. Always an error: this run has no values.
    fn not_ready(&self, chip: &mut Chip<'_>) -> I2cReadError {
        let serial = read_words(
            chip,
            GET_SERIAL_NUMBER,
            EXECUTION,
            [
                "serial number word 0",
                "serial number word 1",
                "serial number word 2",
            ],
        );
        match serial {
            Ok(_) => {
                let command = self.mode.start_command();
                let operation = format!("starting {} ({command:#06x})", self.mode.name());
                match send(chip, command, &[]) {
                    Ok(()) => chip.error(
                        operation,
                        ReadFailure::Device(format!(
                            "the sensor was idle; measurement started, first values in {} s",
                            self.mode.interval_seconds()
                        )),
                    ),
                    Err(error) => error,
                }
            }
            Err(error) if is_nack(&error) => chip.error(
                "waiting for data ready",
                ReadFailure::Device(
                    "the sensor is measuring but has no new values since the last read \
                     (one every 5 s, 30 s in low power mode): schedule it less often"
                        .into(),
                ),
            ),
            Err(error) => error,
        }
    }
}

impl Driver for Scd4x {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("co2", "co2_ppm"),
            ("temperature", "temperature_celsius"),
            ("humidity", "humidity_percent"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let [status] = read_words(
            chip,
            GET_DATA_READY_STATUS,
            EXECUTION,
            ["data-ready status"],
        )?;
        if status & DATA_READY_BITS == 0 {
            return Err(self.not_ready(chip));
        }
        let [co2, t, rh] = read_words(
            chip,
            READ_MEASUREMENT,
            EXECUTION,
            ["CO2 word", "temperature word", "humidity word"],
        )?;
        Ok(vec![f64::from(co2), temperature(t), humidity(rh)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    const MS: Duration = Duration::from_millis(1);
    /// Table 23's "not ready" answer: 0x8000, CRC 0xA2.
    const NOT_READY: [u8; 3] = [0x80, 0x00, 0xA2];
    /// A ready status: 0x8006 (low bits not 0), CRC 0x04.
    const READY: [u8; 3] = [0x80, 0x06, 0x04];
    /// Table 25's serial number, 273'325'796'834'238, with its CRCs.
    const SERIAL: [u8; 9] = [0xF8, 0x96, 0x31, 0x9F, 0x07, 0xC2, 0x3B, 0xBE, 0x89];
    /// Table 11's answer (500 ppm, 25 °C, 37 %RH) with the CO₂ word's CRC as §3.11
    /// computes it (the table prints 0x7B).
    const MEASUREMENT: [u8; 9] = [0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C];

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x62\ndriver = \"scd4x\"\n{options}");
        I2cSource::from_toml(&text, "scd4x.toml").unwrap()
    }

    fn status(answer: [u8; 3]) -> Vec<Step> {
        vec![Step::Write(vec![0xE4, 0xB8]), Step::Read(answer.to_vec())]
    }

    #[test]
    fn reads_the_datasheet_example() {
        let mut steps = status(READY);
        steps.extend([
            Step::Write(vec![0xEC, 0x05]),
            Step::Read(MEASUREMENT.to_vec()),
        ]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let values = source("").read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![MS, MS]);
        assert_eq!(values[0].0, "co2_ppm");
        assert_close(values[0].1, 500.0);
        assert_eq!(values[1].0, "temperature_celsius");
        // −45 + 175 · 26215 / 65535 and 100 · 24249 / 65535: the "25 °C" and
        // "37 %RH" of Table 11.
        assert_close(values[1].1, 25.002670328831925);
        assert!((values[1].1 - 25.0).abs() < 0.005);
        assert_eq!(values[2].0, "humidity_percent");
        assert_close(values[2].1, 37.00160219729916);
        assert!((values[2].1 - 37.0).abs() < 0.005);
    }

    #[test]
    fn the_datasheet_example_as_printed_fails_its_crc() {
        let mut printed = MEASUREMENT;
        printed[2] = 0x7B;
        let mut steps = status(READY);
        steps.extend([Step::Write(vec![0xEC, 0x05]), Step::Read(printed.to_vec())]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: checking the CRC of the CO2 word: CRC mismatch: \
             expected 0x33 (computed from the data), received 0x7b"
        );
    }

    #[test]
    fn a_crc_mismatch_in_the_humidity_names_it() {
        let mut frame = MEASUREMENT;
        frame[8] ^= 0x01;
        let mut steps = status(READY);
        steps.extend([Step::Write(vec![0xEC, 0x05]), Step::Read(frame.to_vec())]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: checking the CRC of the humidity word: CRC mismatch: \
             expected 0x3c (computed from the data), received 0x3d"
        );
    }

    #[test]
    fn an_idle_sensor_is_identified_started_and_the_run_fails() {
        let mut steps = status(NOT_READY);
        steps.extend([
            Step::Write(vec![0x36, 0x82]),
            Step::Read(SERIAL.to_vec()),
            Step::Write(vec![0x21, 0xB1]),
        ]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: starting periodic measurement (0x21b1): \
             the sensor was idle; measurement started, first values in 5 s"
        );
    }

    #[test]
    fn low_power_starts_the_low_power_mode() {
        let mut steps = status(NOT_READY);
        steps.extend([
            Step::Write(vec![0x36, 0x82]),
            Step::Read(SERIAL.to_vec()),
            Step::Write(vec![0x21, 0xAC]),
        ]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("low_power = true\n")
            .read_with(&mut bus)
            .unwrap_err();
        bus.assert_finished();
        assert!(
            error.to_string().ends_with(
                "starting low power periodic measurement (0x21ac): \
                 the sensor was idle; measurement started, first values in 30 s"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_measuring_sensor_without_new_values_is_left_alone() {
        let mut steps = status(NOT_READY);
        steps.extend([Step::Write(vec![0x36, 0x82]), Step::Fail(libc::EREMOTEIO)]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: waiting for data ready: the sensor is measuring but has \
             no new values since the last read (one every 5 s, 30 s in low power mode): \
             schedule it less often"
        );
    }

    #[test]
    fn a_serial_number_with_a_bad_crc_is_not_started() {
        let mut serial = SERIAL;
        serial[5] ^= 0x80;
        let mut steps = status(NOT_READY);
        steps.extend([Step::Write(vec![0x36, 0x82]), Step::Read(serial.to_vec())]);
        let mut bus = ScriptedBus::at(0x62, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: checking the CRC of the serial number word 1: CRC mismatch: \
             expected 0xc2 (computed from the data), received 0x42"
        );
    }

    #[test]
    fn no_sensor_is_a_nack() {
        let mut bus = ScriptedBus::at(0x62, vec![Step::Fail(libc::ENXIO)]);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(error.operation, "writing 0xe4 0xb8");
        assert!(is_nack(&error), "{error}");
    }

    #[test]
    fn low_power_must_be_a_boolean() {
        let text = "bus = 1\naddress = 0x62\ndriver = \"scd4x\"\nlow_power = 1\n";
        let error = I2cSource::from_toml(text, "scd4x.toml").unwrap_err();
        assert_eq!(error.key.as_deref(), Some("low_power"));
        assert_eq!(error.line, Some(4));
    }
}
