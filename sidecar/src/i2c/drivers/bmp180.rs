//! Bosch BMP180 (and the BMP085 before it, same id and registers): temperature and
//! pressure from two commanded conversions and eleven factory calibration words,
//! with the datasheet's integer algorithm (BST-BMP180-DS000, section 3.5, figure 4).
//!
//! The read: check the chip id (0xD0 = 0x55); read AC1..MD (0xAA..0xBF, big
//! endian); write 0x2E to ctrl_meas (0xF4), wait 4.5 ms, read UT (0xF6..0xF7);
//! write 0x34 + (oss << 6), wait the oversampling's conversion time, read UP
//! (0xF6..0xF8) >> (8 − oss). After each wait the driver checks that the Sco bit
//! (ctrl_meas bit 5) has cleared, polling it for a while, so a chip that never
//! finishes fails the read instead of returning stale data.
//!
//! Surprising: the datasheet's "/ 2^n" are arithmetic shifts (rounding towards
//! −∞), and its one real division X2 = MC · 2^11 / (X1 + MD) rounds towards −∞
//! as well: the worked example prints X2 = −2344 for −2343.99. C's `/` would give
//! −2343. Both give T = 150 there, but only floor reproduces every printed step,
//! so floor is used. A calibration word of 0x0000 or 0xFFFF means the bus or the
//! chip failed (section 3.4), and is refused.

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "bmp180",
    build,
};

const CHIP_ID: u8 = 0xD0;
const BMP180_ID: u8 = 0x55;
/// AC1 (0xAA) .. MD (0xBF): eleven big-endian words.
const CALIBRATION: u8 = 0xAA;
const CTRL_MEAS: u8 = 0xF4;
/// ctrl_meas bit 5: 1 while a conversion runs.
const SCO: u8 = 0x20;
const START_TEMPERATURE: u8 = 0x2E;
const START_PRESSURE: u8 = 0x34;
/// out_msb, out_lsb, out_xlsb.
const OUT: u8 = 0xF6;

/// The highest `oversampling` (oss): 8 samples.
const MAX_OVERSAMPLING: i64 = 3;
/// Table 8's maximum conversion times: temperature, then pressure by oss.
const TEMPERATURE_CONVERSION: Duration = Duration::from_micros(4_500);
const PRESSURE_CONVERSION: [Duration; 4] = [
    Duration::from_micros(4_500),
    Duration::from_micros(7_500),
    Duration::from_micros(13_500),
    Duration::from_micros(25_500),
];
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// How long past its nominal time a conversion may run before the read fails.
const CONVERSION_GRACE: Duration = Duration::from_millis(10);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let oss = keys
        .integer_in("oversampling", 0..=MAX_OVERSAMPLING)?
        .unwrap_or(0);
    Ok(Box::new(Bmp180 { oss: oss as u32 }))
}

/// AC1..MD as the datasheet names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Calibration {
    ac1: i16,
    ac2: i16,
    ac3: i16,
    ac4: u16,
    ac5: u16,
    ac6: u16,
    b1: i16,
    b2: i16,
    /// Unused by the section 3.5 algorithm; read and checked like the others.
    mb: i16,
    mc: i16,
    md: i16,
}

impl Calibration {
    /// From 0xAA..0xBF; `Err` names the first word that is 0x0000 or 0xFFFF.
    fn from_registers(bytes: &[u8; 22]) -> Result<Self, &'static str> {
        const NAMES: [&str; 11] = [
            "AC1", "AC2", "AC3", "AC4", "AC5", "AC6", "B1", "B2", "MB", "MC", "MD",
        ];
        let mut words = [0u16; 11];
        for (n, word) in words.iter_mut().enumerate() {
            *word = u16::from_be_bytes([bytes[2 * n], bytes[2 * n + 1]]);
            if *word == 0 || *word == 0xFFFF {
                return Err(NAMES[n]);
            }
        }
        let signed = |n: usize| words[n] as i16;
        Ok(Calibration {
            ac1: signed(0),
            ac2: signed(1),
            ac3: signed(2),
            ac4: words[3],
            ac5: words[4],
            ac6: words[5],
            b1: signed(6),
            b2: signed(7),
            mb: signed(8),
            mc: signed(9),
            md: signed(10),
        })
    }

    /// Section 3.5: (temperature in 0.1 °C, B5). `None` where the divisor is 0
    /// (only corrupt calibration data gets there).
    fn temperature(&self, ut: i64) -> Option<(i64, i64)> {
        let x1 = ((ut - i64::from(self.ac6)) * i64::from(self.ac5)) >> 15;
        let divisor = x1 + i64::from(self.md);
        if divisor == 0 {
            return None;
        }
        let x2 = floor_div(i64::from(self.mc) << 11, divisor);
        let b5 = x1 + x2;
        Some(((b5 + 8) >> 4, b5))
    }

    /// Section 3.5: pressure in Pa. `None` where the datasheet's unsigned
    /// arithmetic would wrap or divide by 0 (corrupt data, or UP below B3).
    fn pressure(&self, up: i64, b5: i64, oss: u32) -> Option<i64> {
        let b6 = b5 - 4000;
        let x1 = (i64::from(self.b2) * ((b6 * b6) >> 12)) >> 11;
        let x2 = (i64::from(self.ac2) * b6) >> 11;
        let x3 = x1 + x2;
        let b3 = (((i64::from(self.ac1) * 4 + x3) << oss) + 2) >> 2;
        let x1 = (i64::from(self.ac3) * b6) >> 13;
        let x2 = (i64::from(self.b1) * ((b6 * b6) >> 12)) >> 16;
        let x3 = (x1 + x2 + 2) >> 2;
        let b4 = (i64::from(self.ac4) * (x3 + 32_768)) >> 15;
        let b7 = (up - b3) * (50_000 >> oss);
        if b4 <= 0 || b7 < 0 || b7 > i64::from(u32::MAX) {
            return None;
        }
        // The datasheet's two branches keep its unsigned 32 bits from overflowing;
        // they round differently, so both are kept.
        let p = if b7 < 0x8000_0000 {
            (b7 * 2) / b4
        } else {
            (b7 / b4) * 2
        };
        let x1 = (p >> 8) * (p >> 8);
        let x1 = (x1 * 3038) >> 16;
        let x2 = (-7357 * p) >> 16;
        Some(p + ((x1 + x2 + 3791) >> 4))
    }
}

/// a / b rounded towards −∞, as the datasheet's printed steps are.
fn floor_div(a: i64, b: i64) -> i64 {
    let quotient = a / b;
    if a % b != 0 && (a < 0) != (b < 0) {
        quotient - 1
    } else {
        quotient
    }
}

#[derive(Debug)]
struct Bmp180 {
    /// oversampling_setting: 0..=3, 2^oss samples per pressure.
    oss: u32,
}

impl Bmp180 {
    /// Starts a conversion, waits its time, and waits for Sco to clear.
    fn convert(
        &self,
        chip: &mut Chip<'_>,
        command: u8,
        time: Duration,
        what: &str,
    ) -> Result<(), I2cReadError> {
        chip.smbus_write_byte_data(CTRL_MEAS, command)?;
        chip.wait_until(what, time, POLL_INTERVAL, time + CONVERSION_GRACE, |chip| {
            let mut control = [0u8];
            chip.read_register(CTRL_MEAS, &mut control)?;
            Ok(control[0] & SCO == 0)
        })
    }
}

impl Driver for Bmp180 {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("temperature", "temperature_celsius"),
            ("pressure", "pressure_pascals"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let mut id = [0u8];
        chip.read_register(CHIP_ID, &mut id)?;
        if id[0] != BMP180_ID {
            return Err(chip.error(
                "reading the chip id",
                ReadFailure::Device(format!(
                    "chip id {:#04x} is not a BMP180's ({BMP180_ID:#04x})",
                    id[0]
                )),
            ));
        }
        let mut words = [0u8; 22];
        chip.read_register(CALIBRATION, &mut words)?;
        let calibration = Calibration::from_registers(&words).map_err(|name| {
            chip.error(
                "reading the calibration",
                ReadFailure::Device(format!("{name} is 0x0000 or 0xFFFF (bus or chip fault)")),
            )
        })?;

        self.convert(
            chip,
            START_TEMPERATURE,
            TEMPERATURE_CONVERSION,
            "the temperature conversion",
        )?;
        let mut ut = [0u8; 2];
        chip.read_register(OUT, &mut ut)?;
        let ut = i64::from(u16::from_be_bytes(ut));

        self.convert(
            chip,
            START_PRESSURE + ((self.oss as u8) << 6),
            PRESSURE_CONVERSION[self.oss as usize],
            "the pressure conversion",
        )?;
        let mut up = [0u8; 3];
        chip.read_register(OUT, &mut up)?;
        let [msb, lsb, xlsb] = up;
        let up = (i64::from(msb) << 16 | i64::from(lsb) << 8 | i64::from(xlsb)) >> (8 - self.oss);

        let corrupt = |chip: &Chip<'_>, what: &str| {
            chip.error(
                format!("compensating the {what}"),
                ReadFailure::Device("the calibration data gives no result (corrupt?)".into()),
            )
        };
        let (deci_celsius, b5) = calibration
            .temperature(ut)
            .ok_or_else(|| corrupt(chip, "temperature"))?;
        let pascals = calibration
            .pressure(up, b5, self.oss)
            .ok_or_else(|| corrupt(chip, "pressure"))?;
        Ok(vec![deci_celsius as f64 / 10.0, pascals as f64])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    /// The datasheet's worked example (section 3.5, figure 4): AC1 = 408,
    /// AC2 = −72, AC3 = −14383, AC4 = 32741, AC5 = 32757, AC6 = 23153, B1 = 6190,
    /// B2 = 4, MB = −32768, MC = −8711, MD = 2868, as 0xAA..0xBF hold them.
    const WORDS: [u8; 22] = [
        0x01, 0x98, 0xFF, 0xB8, 0xC7, 0xD1, 0x7F, 0xE5, 0x7F, 0xF5, 0x5A, 0x71, 0x18, 0x2E, 0x00,
        0x04, 0x80, 0x00, 0xDD, 0xF9, 0x0B, 0x34,
    ];
    const EXAMPLE: Calibration = Calibration {
        ac1: 408,
        ac2: -72,
        ac3: -14383,
        ac4: 32741,
        ac5: 32757,
        ac6: 23153,
        b1: 6190,
        b2: 4,
        mb: -32768,
        mc: -8711,
        md: 2868,
    };

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x77\ndriver = \"bmp180\"\n{options}");
        I2cSource::from_toml(&text, "bmp180.toml").unwrap()
    }

    fn read(reg: u8, answer: &[u8]) -> Step {
        Step::WriteRead(vec![reg], answer.to_vec())
    }

    #[test]
    fn calibration_words_are_big_endian() {
        assert_eq!(Calibration::from_registers(&WORDS), Ok(EXAMPLE));
        let mut broken = WORDS;
        broken[4..6].copy_from_slice(&[0xFF, 0xFF]);
        assert_eq!(Calibration::from_registers(&broken), Err("AC3"));
    }

    #[test]
    fn the_datasheet_example_is_reproduced_exactly() {
        // UT = 27898 → X1 = 4743, X2 = −2344, B5 = 2399, T = 150 (15.0 °C).
        assert_eq!(EXAMPLE.temperature(27_898), Some((150, 2399)));
        // UP = 23843, oss = 0 → B6 = −1601, B3 = 422, B4 = 33457,
        // B7 = 1171050000, p = 70003, then X1 = 3454, X2 = −7859: 69964 Pa.
        assert_eq!(EXAMPLE.pressure(23_843, 2399, 0), Some(69_964));
    }

    #[test]
    fn corrupt_calibration_gives_no_result_instead_of_a_panic() {
        let zero_divisor = Calibration {
            md: -4743,
            ..EXAMPLE
        };
        assert_eq!(zero_divisor.temperature(27_898), None);
        let negative_divisor = Calibration {
            md: -5000,
            ..EXAMPLE
        };
        // X1 + MD = −257: X2 = floor(−17840128 / −257) = 69416 (exact: 69416.8).
        assert_eq!(negative_divisor.temperature(27_898), Some((4635, 74159)));
        // UP below B3 would wrap the datasheet's unsigned B7.
        assert_eq!(EXAMPLE.pressure(100, 2399, 0), None);
    }

    #[test]
    fn the_example_through_the_fake_bus() {
        let mut bus = ScriptedBus::at(
            0x77,
            vec![
                read(0xD0, &[0x55]),
                read(0xAA, &WORDS),
                Step::SmbusWriteByteData(0xF4, 0x2E),
                read(0xF4, &[0x0E]),
                // UT = 27898 = 0x6CFA.
                read(0xF6, &[0x6C, 0xFA]),
                Step::SmbusWriteByteData(0xF4, 0x34),
                // Still converting at 4.5 ms; done a millisecond later.
                read(0xF4, &[0x34]),
                read(0xF4, &[0x14]),
                // UP = 23843 = 0x5D23, then xlsb; oss 0 shifts all 8 bits out.
                read(0xF6, &[0x5D, 0x23, 0x99]),
            ],
        );
        let values = source("").read_with(&mut bus).unwrap();
        assert_eq!(
            values,
            vec![
                ("temperature_celsius".to_string(), 15.0),
                ("pressure_pascals".to_string(), 69_964.0),
            ]
        );
        bus.assert_finished();
        let us = Duration::from_micros;
        assert_eq!(bus.waits, vec![us(4_500), us(4_500), us(1_000)]);
    }

    #[test]
    fn oversampling_selects_the_command_the_wait_and_the_shift() {
        // oss = 3: command 0x34 + (3 << 6) = 0xF4, 25.5 ms, UP = 24 bits >> 5.
        // Derived by hand from section 3.5 with the example's calibration and
        // B5 = 2399, UP = 190744 (8 × the example's, as 8 samples sum):
        // B3 = (((1632 + 57) << 3) + 2) >> 2 = 3378, B4 = 33457,
        // B7 = (190744 − 3378) · 6250 = 1171037500, p = 2 · B7 / B4 = 70002,
        // X1 = 3454, X2 = −7859, p = 70002 + (−614 >> 4) = 69963 Pa.
        let mut bus = ScriptedBus::at(
            0x77,
            vec![
                read(0xD0, &[0x55]),
                read(0xAA, &WORDS),
                Step::SmbusWriteByteData(0xF4, 0x2E),
                read(0xF4, &[0x0E]),
                read(0xF6, &[0x6C, 0xFA]),
                Step::SmbusWriteByteData(0xF4, 0xF4),
                read(0xF4, &[0xD4]),
                // 190744 << 5 = 0x5D2300.
                read(0xF6, &[0x5D, 0x23, 0x00]),
            ],
        );
        let values = source("oversampling = 3\n").read_with(&mut bus).unwrap();
        assert_eq!(values[1].1, 69_963.0);
        bus.assert_finished();
        let us = Duration::from_micros;
        assert_eq!(bus.waits, vec![us(4_500), us(25_500)]);
    }

    #[test]
    fn oversampling_beyond_3_is_refused() {
        let text = "bus = 1\naddress = 0x77\ndriver = \"bmp180\"\noversampling = 4\n";
        let error = I2cSource::from_toml(text, "bmp180.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "bmp180.toml:4: oversampling: 4 is out of range 0..=3"
        );
    }

    #[test]
    fn another_chip_id_fails_before_any_write() {
        let mut bus = ScriptedBus::at(0x77, vec![read(0xD0, &[0x58])]);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: reading the chip id: chip id 0x58 is not a BMP180's (0x55)"
        );
        bus.assert_finished();
    }

    #[test]
    fn a_conversion_that_never_ends_fails() {
        let mut steps = vec![
            read(0xD0, &[0x55]),
            read(0xAA, &WORDS),
            Step::SmbusWriteByteData(0xF4, 0x2E),
        ];
        // Polled at 4.5 ms and every millisecond until 14.5 ms.
        for _ in 0..11 {
            steps.push(read(0xF4, &[0x2E]));
        }
        let mut bus = ScriptedBus::at(0x77, steps);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: waiting for the temperature conversion: not finished after 14.5ms"
        );
        bus.assert_finished();
    }

    #[test]
    fn a_nack_fails_the_read_naming_bus_and_address() {
        let mut bus = ScriptedBus::at(0x77, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = source("").read_with(&mut bus).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("i2c-1 address 0x77: reading 1 bytes from register 0xd0: EREMOTEIO"),
            "{error}"
        );
        bus.assert_finished();
    }
}
