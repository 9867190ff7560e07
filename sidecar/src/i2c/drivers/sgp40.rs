//! Sensirion SGP40 metal-oxide VOC sensor: its raw signal, following the SGP40
//! datasheet's command tables. `measure_raw_signal` (0x260F) carries two argument
//! words with their CRCs — the humidity and temperature the chip compensates for,
//! as ticks: RH · 65535 / 100 and (T + 45) · 65535 / 175; the datasheet's default
//! words 0x8000 (50 %RH) and 0x6666 (25 °C) leave compensation at its reference —
//! and after at most 30 ms the chip answers one CRC-checked word: SRAW_VOC, in
//! ticks, exported as is (`voc_raw_ticks`).
//!
//! Before that write, each run reads the serial number (0x3682, three
//! CRC-checked words, 1 ms): the chip's identification, so nothing else at 0x59
//! is sent a command.
//!
//! Not computed: Sensirion's VOC index, an adaptive algorithm that needs a
//! sample every second and keeps state across them; a query can derive trends
//! from the raw ticks. measure_raw_signal starts (or continues) the chip's VOC
//! measurement mode: the hotplate stays on between runs.

use std::time::Duration;

use super::sensirion::{read_words, receive_words, send};
use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "sgp40",
    build,
};

const MEASURE_RAW_SIGNAL: u16 = 0x260F;
const GET_SERIAL_NUMBER: u16 = 0x3682;
const SERIAL_EXECUTION: Duration = Duration::from_millis(1);
const MEASUREMENT_TIME: Duration = Duration::from_millis(30);
/// The datasheet's default compensation words: 50 %RH and 25 °C.
const DEFAULT_HUMIDITY_TICKS: u16 = 0x8000;
const DEFAULT_TEMPERATURE_TICKS: u16 = 0x6666;
/// The ranges the tick formulas cover.
const HUMIDITY_RANGE: (f64, f64) = (0.0, 100.0);
const TEMPERATURE_RANGE: (f64, f64) = (-45.0, 130.0);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let humidity = match bounded(keys, "humidity_percent", HUMIDITY_RANGE)? {
        Some(percent) => ticks(percent, 0.0, 100.0),
        None => DEFAULT_HUMIDITY_TICKS,
    };
    let temperature = match bounded(keys, "temperature_celsius", TEMPERATURE_RANGE)? {
        Some(celsius) => ticks(celsius, 45.0, 175.0),
        None => DEFAULT_TEMPERATURE_TICKS,
    };
    Ok(Box::new(Sgp40 {
        humidity,
        temperature,
    }))
}

fn bounded(
    keys: &mut Keys<'_, '_>,
    key: &'static str,
    (low, high): (f64, f64),
) -> Result<Option<f64>, I2cConfigError> {
    match keys.float(key)? {
        Some(value) if !(low..=high).contains(&value) => {
            Err(keys.error(key, format!("{value} is out of range {low}..={high}")))
        }
        other => Ok(other),
    }
}

/// (value + offset) · 65535 / span, rounded; the caller bounds the value.
fn ticks(value: f64, offset: f64, span: f64) -> u16 {
    ((value + offset) * 65535.0 / span).round() as u16
}

#[derive(Debug)]
struct Sgp40 {
    /// The compensation words sent with every measurement.
    humidity: u16,
    temperature: u16,
}

impl Driver for Sgp40 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[("voc_raw", "voc_raw_ticks")])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        read_words(
            chip,
            GET_SERIAL_NUMBER,
            SERIAL_EXECUTION,
            [
                "serial number word 0",
                "serial number word 1",
                "serial number word 2",
            ],
        )?;
        send(chip, MEASURE_RAW_SIGNAL, &[self.humidity, self.temperature])?;
        chip.wait(MEASUREMENT_TIME)?;
        let [raw] = receive_words(chip, ["VOC raw signal"])?;
        Ok(vec![f64::from(raw)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::{BusErrorKind, I2cSource, ReadFailure};

    /// A serial number with its CRCs (0x0000 0x0B8F 0x8AE5 as three words).
    const SERIAL: [u8; 9] = [0x00, 0x00, 0x81, 0x0B, 0x8F, 0xCF, 0x8A, 0xE5, 0x78];
    /// The datasheet's measure_raw_signal with the default compensation:
    /// 0x260F, 0x8000 CRC 0xA2, 0x6666 CRC 0x93.
    const DEFAULT_COMMAND: [u8; 8] = [0x26, 0x0F, 0x80, 0x00, 0xA2, 0x66, 0x66, 0x93];

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x59\ndriver = \"sgp40\"\n{options}");
        I2cSource::from_toml(&text, "sgp40.toml").unwrap()
    }

    fn steps(command: &[u8], answer: [u8; 3]) -> Vec<Step> {
        vec![
            Step::Write(vec![0x36, 0x82]),
            Step::Read(SERIAL.to_vec()),
            Step::Write(command.to_vec()),
            Step::Read(answer.to_vec()),
        ]
    }

    #[test]
    fn the_default_compensation_is_the_datasheets() {
        assert_eq!(ticks(50.0, 0.0, 100.0), DEFAULT_HUMIDITY_TICKS);
        assert_eq!(ticks(25.0, 45.0, 175.0), DEFAULT_TEMPERATURE_TICKS);
        assert_eq!(ticks(100.0, 0.0, 100.0), 0xFFFF);
        assert_eq!(ticks(-45.0, 45.0, 175.0), 0);
    }

    #[test]
    fn measures_with_the_default_compensation() {
        // 0x7A10 (31248 ticks), CRC 0x17.
        let mut bus = ScriptedBus::at(0x59, steps(&DEFAULT_COMMAND, [0x7A, 0x10, 0x17]));
        let values = source("").read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(
            bus.waits,
            vec![Duration::from_millis(1), Duration::from_millis(30)]
        );
        assert_eq!(values, vec![("voc_raw_ticks".to_string(), 31248.0)]);
    }

    #[test]
    fn compensates_for_the_configured_humidity_and_temperature() {
        // 50 %RH and 25 °C written out give the default words.
        let options = "humidity_percent = 50\ntemperature_celsius = 25.0\n";
        let mut bus = ScriptedBus::at(0x59, steps(&DEFAULT_COMMAND, [0x7A, 0x10, 0x17]));
        source(options).read_with(&mut bus).unwrap();
        bus.assert_finished();
        // 0 %RH and −45 °C: both words 0x0000, CRC 0x81.
        let options = "humidity_percent = 0\ntemperature_celsius = -45\n";
        let command = [0x26, 0x0F, 0x00, 0x00, 0x81, 0x00, 0x00, 0x81];
        let mut bus = ScriptedBus::at(0x59, steps(&command, [0x7A, 0x10, 0x17]));
        source(options).read_with(&mut bus).unwrap();
        bus.assert_finished();
    }

    #[test]
    fn a_crc_mismatch_names_the_signal() {
        let mut bus = ScriptedBus::at(0x59, steps(&DEFAULT_COMMAND, [0x7A, 0x10, 0x18]));
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x59: checking the CRC of the VOC raw signal: CRC mismatch: \
             expected 0x17 (computed from the data), received 0x18"
        );
    }

    #[test]
    fn an_unidentified_device_gets_no_command() {
        let mut serial = SERIAL;
        serial[8] = 0x00;
        let mut bus = ScriptedBus::at(
            0x59,
            vec![Step::Write(vec![0x36, 0x82]), Step::Read(serial.to_vec())],
        );
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.operation,
            "checking the CRC of the serial number word 2"
        );
    }

    #[test]
    fn a_measurement_not_acknowledged_fails() {
        let mut all = steps(&DEFAULT_COMMAND, [0, 0, 0]);
        all[3] = Step::Fail(libc::EREMOTEIO);
        let mut bus = ScriptedBus::at(0x59, all);
        let error = source("").read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(error.operation, "reading 3 bytes");
        match &error.failure {
            ReadFailure::Bus(bus) => assert_eq!(bus.kind(), BusErrorKind::Nack),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compensation_is_bounded() {
        for (option, key) in [
            ("humidity_percent = 101", "humidity_percent"),
            ("temperature_celsius = -46", "temperature_celsius"),
            ("temperature_celsius = \"25\"", "temperature_celsius"),
        ] {
            let text = format!("bus = 1\naddress = 0x59\ndriver = \"sgp40\"\n{option}\n");
            let error = I2cSource::from_toml(&text, "sgp40.toml").unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{error}");
            assert_eq!(error.line, Some(4), "{error}");
        }
    }
}
