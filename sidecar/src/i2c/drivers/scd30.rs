//! Sensirion SCD30 CO₂ module (NDIR, with temperature and humidity), following
//! its interface description (version 1.0), §1.4: 16-bit commands, some with an
//! argument word and its CRC; answers of CRC-checked words, read in a separate
//! transaction whose read header must come more than 3 ms after the command
//! (§1.4.5); the driver waits 4 ms.
//!
//! A run asks `get_data_ready` (0x0202, §1.4.4: the word is 1 when a measurement
//! is ready) and, when ready, reads `read_measurement` (0x0300, §1.4.5): CO₂ (ppm),
//! temperature (°C) and humidity (%RH) as big-endian IEEE-754 floats, each split in
//! two words with a CRC after each; a value that is not a finite number fails the
//! run.
//!
//! The chip measures continuously once told to (`trigger_continuous_measurement`,
//! 0x0010, §1.4.1), every `measurement_interval` seconds (2 by default), and
//! remembers that mode across power cycles. It has no command telling idle from
//! measuring, so when no data is ready the driver sends the trigger (argument 0:
//! no pressure compensation) and fails the run with "measurement (re)started".
//! §1.4.1 has the whole command sent again to a running chip to change its
//! pressure compensation, so sending it to a measuring chip is within the
//! document. Schedule the source no more often than the measurement interval,
//! or runs find nothing new.
//!
//! Before any write the chip must have answered a CRC-checked word (data-ready,
//! or the interval): what an unrelated device at 0x61 would not do.
//!
//! Option `measurement_interval` (2 to 1800 s, §1.4.3): each run reads the
//! interval (0x4600) and writes it when it differs, so it holds after the chip
//! was reconfigured or replaced.

use std::time::Duration;

use super::sensirion::{read_words, send};
use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "scd30",
    build,
};

const TRIGGER_CONTINUOUS_MEASUREMENT: u16 = 0x0010;
const MEASUREMENT_INTERVAL: u16 = 0x4600;
const GET_DATA_READY: u16 = 0x0202;
const READ_MEASUREMENT: u16 = 0x0300;
/// §1.4.1: the argument that leaves the pressure compensation off.
const NO_PRESSURE_COMPENSATION: u16 = 0;
/// §1.4.3: the measurement intervals the chip accepts, in seconds.
const INTERVALS: std::ops::RangeInclusive<i64> = 2..=1800;
/// The chip's measurement interval when nobody set one.
const DEFAULT_INTERVAL_SECONDS: u16 = 2;
/// The pause between a command and the read of its answer: §1.4.5 asks for
/// more than 3 ms.
const EXECUTION: Duration = Duration::from_millis(4);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let interval = keys
        .integer_in("measurement_interval", INTERVALS)?
        .map(|seconds| seconds as u16);
    Ok(Box::new(Scd30 { interval }))
}

#[derive(Debug)]
struct Scd30 {
    /// The interval to hold the chip at, if the sensor file sets one.
    interval: Option<u16>,
}

/// A float the chip sends as two words, most significant first.
fn float(chip: &Chip<'_>, high: u16, low: u16, what: &str) -> Result<f64, I2cReadError> {
    let value = f32::from_bits((u32::from(high) << 16) | u32::from(low));
    if !value.is_finite() {
        return Err(chip.error(
            format!("decoding the {what}"),
            ReadFailure::Device(format!("{high:#06x} {low:#06x} is not a finite number")),
        ));
    }
    Ok(f64::from(value))
}

impl Scd30 {
    fn hold_interval(&self, chip: &mut Chip<'_>, wanted: u16) -> Result<(), I2cReadError> {
        let [current] = read_words(
            chip,
            MEASUREMENT_INTERVAL,
            EXECUTION,
            ["measurement interval"],
        )?;
        if current != wanted {
            send(chip, MEASUREMENT_INTERVAL, &[wanted])?;
        }
        Ok(())
    }
}

impl Driver for Scd30 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("co2", "co2_ppm"),
            ("temperature", "temperature_celsius"),
            ("humidity", "humidity_percent"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        if let Some(wanted) = self.interval {
            self.hold_interval(chip, wanted)?;
        }
        let [ready] = read_words(chip, GET_DATA_READY, EXECUTION, ["data-ready status"])?;
        if ready != 1 {
            let operation =
                format!("starting continuous measurement ({TRIGGER_CONTINUOUS_MEASUREMENT:#06x})");
            send(
                chip,
                TRIGGER_CONTINUOUS_MEASUREMENT,
                &[NO_PRESSURE_COMPENSATION],
            )?;
            let first = match self.interval {
                Some(seconds) => format!("in {seconds} s"),
                None => format!(
                    "after the chip's measurement interval ({DEFAULT_INTERVAL_SECONDS} s from the factory)"
                ),
            };
            return Err(chip.error(
                operation,
                ReadFailure::Device(format!(
                    "no measurement ready; measurement (re)started, first values {first}"
                )),
            ));
        }
        let [co2_high, co2_low, t_high, t_low, rh_high, rh_low] = read_words(
            chip,
            READ_MEASUREMENT,
            EXECUTION,
            [
                "CO2 high word",
                "CO2 low word",
                "temperature high word",
                "temperature low word",
                "humidity high word",
                "humidity low word",
            ],
        )?;
        Ok(vec![
            float(chip, co2_high, co2_low, "CO2")?,
            float(chip, t_high, t_low, "temperature")?,
            float(chip, rh_high, rh_low, "humidity")?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::{BusErrorKind, I2cSource};

    const WAIT: Duration = Duration::from_millis(4);
    /// §1.4.4's example: data ready, 0x0001 with CRC 0xB0.
    const READY: [u8; 3] = [0x00, 0x01, 0xB0];
    const NOT_READY: [u8; 3] = [0x00, 0x00, 0x81];
    /// §1.4.5's example: CO₂ 439 ppm (0x43DB8C2E), T 27.2 °C (0x41D9E7FF),
    /// RH 48.8 % (0x42433A1B), each word followed by the CRC the document gives.
    const MEASUREMENT: [u8; 18] = [
        0x43, 0xDB, 0xCB, 0x8C, 0x2E, 0x8F, 0x41, 0xD9, 0x70, 0xE7, 0xFF, 0xF5, 0x42, 0x43, 0xBF,
        0x3A, 0x1B, 0x74,
    ];

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x61\ndriver = \"scd30\"\n{options}");
        I2cSource::from_toml(&text, "scd30.toml").unwrap()
    }

    fn ready_then(frame: &[u8]) -> Vec<Step> {
        vec![
            Step::Write(vec![0x02, 0x02]),
            Step::Read(READY.to_vec()),
            Step::Write(vec![0x03, 0x00]),
            Step::Read(frame.to_vec()),
        ]
    }

    #[test]
    fn reads_the_interface_description_example() {
        let mut bus = ScriptedBus::at(0x61, ready_then(&MEASUREMENT));
        let values = source("").read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![WAIT, WAIT]);
        assert_eq!(values[0].0, "co2_ppm");
        assert_close(values[0].1, 439.09515380859375);
        assert_eq!(values[1].0, "temperature_celsius");
        assert_close(values[1].1, 27.238279342651367);
        assert_eq!(values[2].0, "humidity_percent");
        assert_close(values[2].1, 48.80674362182617);
        // The document's rounded "439 ppm, 27.2 °C, 48.8 %".
        assert_eq!(
            format!("{:.0} {:.1} {:.1}", values[0].1, values[1].1, values[2].1),
            "439 27.2 48.8"
        );
    }

    #[test]
    fn a_crc_mismatch_names_the_word() {
        let mut frame = MEASUREMENT;
        frame[11] = 0x00;
        let mut bus = ScriptedBus::at(0x61, ready_then(&frame));
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x61: checking the CRC of the temperature low word: CRC mismatch: \
             expected 0xf5 (computed from the data), received 0x00"
        );
    }

    #[test]
    fn a_value_that_is_not_a_number_fails() {
        // 0x7FC0 0x0000: a NaN, with correct CRCs.
        let mut frame = MEASUREMENT;
        frame[..6].copy_from_slice(&[0x7F, 0xC0, 0x64, 0x00, 0x00, 0x81]);
        let mut bus = ScriptedBus::at(0x61, ready_then(&frame));
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x61: decoding the CO2: 0x7fc0 0x0000 is not a finite number"
        );
    }

    #[test]
    fn without_data_measurement_is_triggered_and_the_run_fails() {
        let mut bus = ScriptedBus::at(
            0x61,
            vec![
                Step::Write(vec![0x02, 0x02]),
                Step::Read(NOT_READY.to_vec()),
                // §1.4.1's example: no pressure compensation.
                Step::Write(vec![0x00, 0x10, 0x00, 0x00, 0x81]),
            ],
        );
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x61: starting continuous measurement (0x0010): \
             no measurement ready; measurement (re)started, first values after the \
             chip's measurement interval (2 s from the factory)"
        );

        let mut bus = interval_then(
            [0x00, 0x1E, 0xDD],
            vec![
                Step::Write(vec![0x02, 0x02]),
                Step::Read(NOT_READY.to_vec()),
                Step::Write(vec![0x00, 0x10, 0x00, 0x00, 0x81]),
            ],
        );
        let error = source("measurement_interval = 30\n")
            .read_with(&mut bus)
            .unwrap_err();
        bus.assert_finished();
        assert!(
            error.to_string().ends_with("first values in 30 s"),
            "{error}"
        );
    }

    /// The interval read (0x4600), answered with `answer`, then what follows.
    fn interval_then(answer: [u8; 3], rest: Vec<Step>) -> ScriptedBus {
        let mut steps = vec![Step::Write(vec![0x46, 0x00]), Step::Read(answer.to_vec())];
        steps.extend(rest);
        ScriptedBus::at(0x61, steps)
    }

    #[test]
    fn the_interval_is_written_only_when_it_differs() {
        let two = source("measurement_interval = 2\n");
        // §1.4.3's example: 2 s is 0x0002, CRC 0xE3. A chip at 2 s is left alone.
        let mut bus = interval_then([0x00, 0x02, 0xE3], ready_then(&MEASUREMENT));
        two.read_with(&mut bus).unwrap();
        bus.assert_finished();
        // A chip at 900 s (0x0384, CRC 0x12) is set to 2 s, as §1.4.3 writes it.
        let mut rest = vec![Step::Write(vec![0x46, 0x00, 0x00, 0x02, 0xE3])];
        rest.extend(ready_then(&MEASUREMENT));
        let mut bus = interval_then([0x03, 0x84, 0x12], rest);
        two.read_with(&mut bus).unwrap();
        bus.assert_finished();
        // An answer with a bad CRC stops the run before any write.
        let mut bus = interval_then([0x03, 0x84, 0x13], vec![]);
        let error = two.read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.operation,
            "checking the CRC of the measurement interval"
        );
    }

    #[test]
    fn no_module_is_a_nack() {
        let mut bus = ScriptedBus::at(0x61, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(error.operation, "writing 0x02 0x02");
        match &error.failure {
            ReadFailure::Bus(bus) => assert_eq!(bus.kind(), BusErrorKind::Nack),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_interval_is_bounded() {
        for (value, ok) in [("1", false), ("2", true), ("1800", true), ("1801", false)] {
            let text = format!(
                "bus = 1\naddress = 0x61\ndriver = \"scd30\"\nmeasurement_interval = {value}\n"
            );
            match I2cSource::from_toml(&text, "scd30.toml") {
                Ok(_) => assert!(ok, "{value} loaded"),
                Err(error) => {
                    assert!(!ok, "{error}");
                    assert_eq!(error.key.as_deref(), Some("measurement_interval"));
                }
            }
        }
    }
}
