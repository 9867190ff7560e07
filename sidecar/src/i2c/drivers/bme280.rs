//! Bosch BME280: temperature, pressure and humidity. Temperature and pressure are
//! the BMP280's (`bmp280`'s calibration, forced measurement and compensation are
//! reused, not copied); this module adds the humidity part of the datasheet
//! (BST-BME280-DS002): the trimming dig_H1..dig_H6 (section 4.2.2), ctrl_hum, and
//! `BME280_compensate_H_int32` (section 4.2.3).
//!
//! Surprising:
//! - dig_H4 and dig_H5 are 12-bit values sharing register 0xE5: H4 = 0xE4 (signed)
//!   << 4 | 0xE5 bits 3..0, H5 = 0xE6 (signed) << 4 | 0xE5 bits 7..4.
//! - ctrl_hum (0xF2) takes effect only after a write to ctrl_meas (5.4.3), so it
//!   is written first, every read (a power cycle resets it to "skip humidity").
//! - The datasheet's integer formula clamps humidity to 0..100 %RH itself; that is
//!   its result, so this driver returns it as is.
//! - A skipped humidity measurement reads 0x8000: that is an error, not 50 %.

use std::time::Duration;

use super::bmp280::{self, BME280_ID, CHIP_ID};
use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cReadError, ReadFailure};

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "bme280",
    build: |_| Ok(Box::new(Bme280)),
};

/// dig_H1, alone after the BMP280 trimming.
const DIG_H1: u8 = 0xA1;
/// dig_H2..dig_H6, 0xE1..0xE7.
const DIG_H2: u8 = 0xE1;
const CTRL_HUM: u8 = 0xF2;
/// osrs_h = ×1 (bits 2..0 = 001).
const HUMIDITY_X1: u8 = 0b001;
/// What the humidity registers hold when humidity was skipped.
const HUMIDITY_SKIPPED: u16 = 0x8000;

/// Appendix B: t_measure,max = 1.25 + 2.3 + (2.3 + 0.575) + (2.3 + 0.575) ms =
/// 9.3 ms with ×1 for all three.
const MEASUREMENT: Duration = Duration::from_millis(10);
const MAX_MEASUREMENT_WAIT: Duration = Duration::from_millis(30);

/// The humidity trimming parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HumidityCalibration {
    h1: u8,
    h2: i16,
    h3: u8,
    h4: i16,
    h5: i16,
    h6: i8,
}

impl HumidityCalibration {
    /// From 0xA1 and 0xE1..0xE7.
    fn from_registers(h1: u8, e1: &[u8; 7]) -> Self {
        let [h2_lsb, h2_msb, h3, e4, e5, e6, h6] = *e1;
        let nibbles = |high: u8, low: u8| i16::from(high as i8) << 4 | i16::from(low);
        HumidityCalibration {
            h1,
            h2: i16::from_le_bytes([h2_lsb, h2_msb]),
            h3,
            h4: nibbles(e4, e5 & 0x0F),
            h5: nibbles(e6, e5 >> 4),
            h6: h6 as i8,
        }
    }

    /// `BME280_compensate_H_int32`: %RH as Q22.10 (1024 = 1 %RH). In i64, which
    /// gives the datasheet's results where its i32 does not overflow.
    fn humidity(&self, adc_h: i64, t_fine: i64) -> i64 {
        let h1 = i64::from(self.h1);
        let h2 = i64::from(self.h2);
        let h3 = i64::from(self.h3);
        let h4 = i64::from(self.h4);
        let h5 = i64::from(self.h5);
        let h6 = i64::from(self.h6);
        let v = t_fine - 76_800;
        let offset = ((adc_h << 14) - (h4 << 20) - h5 * v + 16_384) >> 15;
        let gain = ((((((v * h6) >> 10) * (((v * h3) >> 11) + 32_768)) >> 10) + 2_097_152) * h2
            + 8_192)
            >> 14;
        let v = offset * gain;
        let v = v - (((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4);
        v.clamp(0, 419_430_400) >> 12
    }
}

#[derive(Debug)]
struct Bme280;

impl Driver for Bme280 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("temperature", "temperature_celsius"),
            ("pressure", "pressure_pascals"),
            ("humidity", "humidity_percent"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let mut id = [0u8];
        chip.read_register(CHIP_ID, &mut id)?;
        if id[0] != BME280_ID {
            return Err(chip.error(
                "reading the chip id",
                ReadFailure::Device(format!(
                    "chip id {:#04x} is not a BME280's ({BME280_ID:#04x}); a BMP280 (0x58) \
                     has no humidity, read it with driver = \"bmp280\"",
                    id[0]
                )),
            ));
        }
        let calibration = bmp280::read_calibration(chip)?;
        let mut h1 = [0u8];
        chip.read_register(DIG_H1, &mut h1)?;
        let mut e1 = [0u8; 7];
        chip.read_register(DIG_H2, &mut e1)?;
        let humidity_calibration = HumidityCalibration::from_registers(h1[0], &e1);

        chip.smbus_write_byte_data(CTRL_HUM, HUMIDITY_X1)?;
        let mut data = [0u8; 8];
        bmp280::measure_forced(chip, MEASUREMENT, MAX_MEASUREMENT_WAIT, &mut data)?;
        let [p0, p1, p2, t0, t1, t2, h_msb, h_lsb] = data;
        let (celsius, pascals, t_fine) =
            bmp280::compensate(chip, &calibration, &[p0, p1, p2, t0, t1, t2])?;
        let adc_h = u16::from_be_bytes([h_msb, h_lsb]);
        if adc_h == HUMIDITY_SKIPPED {
            return Err(chip.error(
                "reading the humidity",
                ReadFailure::Device(
                    "0x8000: the chip skipped humidity (ctrl_hum not applied)".into(),
                ),
            ));
        }
        let humidity = humidity_calibration.humidity(i64::from(adc_h), t_fine);
        Ok(vec![celsius, pascals, humidity as f64 / 1024.0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    /// The BMP280 datasheet's worked example (section 3.12), which the BME280's
    /// temperature and pressure share: dig_T1..P9 from 0x88, adc_P = 415148,
    /// adc_T = 519888 → 25.08 °C, t_fine = 128422, pressure 25767233 / 256 Pa.
    const TRIMMING: [u8; 24] = [
        0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, 0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27, 0x0B, 0x8C,
        0x00, 0xF9, 0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17,
    ];

    /// The datasheet gives no humidity example; this one is derived by hand from
    /// its section 4.2.3 formula, with typical trimming values dig_H1..H6 = 75,
    /// 362, 0, 313, 50, 30 (0xA1 = 0x4B; 0xE1..0xE7 = 6A 01 00 13 29 03 1E: H4 =
    /// 0x13 << 4 | 0x9, H5 = 0x03 << 4 | 0x2), t_fine = 128422 and adc_H = 30000:
    ///   v = 128422 − 76800 = 51622
    ///   offset = ((30000 << 14) − (313 << 20) − 50·51622 + 16384) >> 15 = 4905
    ///   gain = ((((51622·30 >> 10)·((51622·0 >> 11) + 32768) >> 10) + 2097152)·362
    ///          + 8192) >> 14 = 47405
    ///   v = 4905 · 47405 = 232521525
    ///   v −= (((v >> 15)² >> 7) · 75) >> 4  →  230678058
    ///   H = v >> 12 = 56317 / 1024 = 54.9970703125 %RH.
    /// The datasheet's double formula (section 8.1) gives 55.0007 %RH for the
    /// same input; the integer one is 0.004 %RH lower, within its resolution.
    const H1: u8 = 0x4B;
    const E1: [u8; 7] = [0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E];
    /// adc_P = 415148, adc_T = 519888, adc_H = 30000 (0x7530), 0xF7..0xFE.
    const DATA_EXAMPLE: [u8; 8] = [0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30];

    fn source() -> I2cSource {
        let text = "bus = 1\naddress = 0x77\ndriver = \"bme280\"\n";
        I2cSource::from_toml(text, "bme280.toml").unwrap()
    }

    fn read(reg: u8, answer: &[u8]) -> Step {
        Step::WriteRead(vec![reg], answer.to_vec())
    }

    /// The whole sequence up to the status poll, for a BME280.
    fn script_until_status() -> Vec<Step> {
        vec![
            read(0xD0, &[0x60]),
            read(0x88, &TRIMMING),
            read(0xA1, &[H1]),
            read(0xE1, &E1),
            // ctrl_hum before ctrl_meas: it only applies after a ctrl_meas write.
            Step::SmbusWriteByteData(0xF2, 0x01),
            Step::SmbusWriteByteData(0xF4, 0x25),
        ]
    }

    #[test]
    fn humidity_trimming_unpacks_the_shared_nibbles() {
        let calibration = HumidityCalibration::from_registers(H1, &E1);
        assert_eq!(
            calibration,
            HumidityCalibration {
                h1: 75,
                h2: 362,
                h3: 0,
                h4: 313,
                h5: 50,
                h6: 30,
            }
        );
        // The high bytes are signed: 0xE4 = 0xFF, 0xE5 = 0xA7, 0xE6 = 0xF0.
        let negative = HumidityCalibration::from_registers(0, &[0, 0, 0, 0xFF, 0xA7, 0xF0, 0xE2]);
        assert_eq!((negative.h4, negative.h5, negative.h6), (-9, -246, -30));
    }

    #[test]
    fn humidity_matches_the_hand_derived_example() {
        let calibration = HumidityCalibration::from_registers(H1, &E1);
        assert_eq!(calibration.humidity(30_000, 128_422), 56_317);
    }

    #[test]
    fn humidity_is_clamped_as_the_datasheet_formula_does() {
        let calibration = HumidityCalibration::from_registers(H1, &E1);
        assert_eq!(calibration.humidity(0, 128_422), 0);
        assert_eq!(calibration.humidity(0xFFFF, 128_422), 100 * 1024);
    }

    #[test]
    fn forced_measurement_on_the_fake_bus() {
        let mut steps = script_until_status();
        steps.push(read(0xF3, &[0x00]));
        steps.push(read(0xF7, &DATA_EXAMPLE));
        let mut bus = ScriptedBus::at(0x77, steps);
        let values = source().read_with(&mut bus).unwrap();
        assert_eq!(
            values,
            vec![
                ("temperature_celsius".to_string(), 25.08),
                ("pressure_pascals".to_string(), 25_767_233.0 / 256.0),
                ("humidity_percent".to_string(), 56_317.0 / 1024.0),
            ]
        );
        bus.assert_finished();
        assert_eq!(bus.waits, vec![MEASUREMENT]);
    }

    #[test]
    fn a_bmp280_is_refused_before_any_write() {
        let mut bus = ScriptedBus::at(0x77, vec![read(0xD0, &[0x58])]);
        let error = source().read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: reading the chip id: chip id 0x58 is not a BME280's (0x60); \
             a BMP280 (0x58) has no humidity, read it with driver = \"bmp280\""
        );
        bus.assert_finished();
    }

    #[test]
    fn a_measurement_that_never_ends_fails() {
        let mut steps = script_until_status();
        // Polled after 10 ms, then every millisecond up to 30 ms.
        for _ in 0..21 {
            steps.push(read(0xF3, &[0x08]));
        }
        let mut bus = ScriptedBus::at(0x77, steps);
        let error = source().read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: waiting for the measurement: not finished after 30ms"
        );
        bus.assert_finished();
    }

    #[test]
    fn a_skipped_humidity_is_an_error() {
        let mut steps = script_until_status();
        steps.push(read(0xF3, &[0x00]));
        let mut data = DATA_EXAMPLE;
        data[6..].copy_from_slice(&[0x80, 0x00]);
        steps.push(read(0xF7, &data));
        let mut bus = ScriptedBus::at(0x77, steps);
        let error = source().read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: reading the humidity: 0x8000: the chip skipped humidity \
             (ctrl_hum not applied)"
        );
    }

    #[test]
    fn a_nack_fails_the_read_naming_bus_and_address() {
        let mut bus = ScriptedBus::at(0x77, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = source().read_with(&mut bus).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("i2c-1 address 0x77: reading 1 bytes from register 0xd0: EREMOTEIO"),
            "{error}"
        );
        bus.assert_finished();
    }
}
