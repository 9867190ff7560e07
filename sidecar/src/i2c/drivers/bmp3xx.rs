//! Bosch BMP388 and BMP390: temperature and pressure, one forced measurement per
//! read, compensated with the datasheet's floating-point formulas (BST-BMP388-DS001
//! section 9.2 and appendix 8.4/8.5; the BMP390's datasheet has the same
//! registers and formulas, only the chip id differs).
//!
//! The read: check the chip id (register 0x00: 0x50 BMP388, 0x60 BMP390; each
//! driver name accepts its own chip only); read NVM_PAR_T1..NVM_PAR_P11
//! (0x31..0x45, little endian, mixed widths and signs); set ×1 oversampling for
//! both (OSR 0x1C = 0x00) and start a forced measurement with both enabled
//! (PWR_CTRL 0x1B = 0x13; a chip found in another mode is first put to sleep
//! and given 5 ms, as Bosch's reference API does before any mode change); wait
//! the conversion time, poll STATUS (0x03) until
//! drdy_press and drdy_temp are both set, then read the six data bytes (0x04..0x09,
//! pressure then temperature, 24-bit little endian).
//!
//! Surprising: the NVM words are not coefficients but quantized ones — each is
//! scaled by its own power of two (PAR_T1 = NVM_PAR_T1 / 2^−8, PAR_P11 =
//! NVM_PAR_P11 / 2^65, …) and P1, P2 are offset by 2^14 first. t_lin, the
//! linearized temperature, is the temperature in °C and feeds the pressure.

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, DriverSpec};
use crate::i2c::error::{I2cReadError, ReadFailure};

pub(crate) const BMP388: DriverSpec = DriverSpec {
    name: "bmp388",
    build: |_| {
        Ok(Box::new(Bmp3xx {
            chip: Chip3xx::Bmp388,
        }))
    },
};

pub(crate) const BMP390: DriverSpec = DriverSpec {
    name: "bmp390",
    build: |_| {
        Ok(Box::new(Bmp3xx {
            chip: Chip3xx::Bmp390,
        }))
    },
};

const CHIP_ID: u8 = 0x00;
const STATUS: u8 = 0x03;
/// STATUS bits 5 and 6: a new pressure and a new temperature are ready.
const DATA_READY: u8 = 0b0110_0000;
/// press_xlsb, press_lsb, press_msb, temp_xlsb, temp_lsb, temp_msb.
const DATA: u8 = 0x04;
const PWR_CTRL: u8 = 0x1B;
/// press_en (bit 0), temp_en (bit 1), mode = forced (bits 5..4 = 01).
const FORCED_BOTH: u8 = 0b0001_0011;
/// PWR_CTRL bits 5..4: 00 sleep, 01 and 10 forced, 11 normal.
const MODE: u8 = 0b0011_0000;
const SLEEP: u8 = 0x00;
/// How long Bosch's API gives the chip to reach sleep before a new mode.
const TO_SLEEP: Duration = Duration::from_millis(5);
const OSR: u8 = 0x1C;
/// osr_p = ×1 (bits 2..0), osr_t = ×1 (bits 5..3).
const OVERSAMPLING_X1: u8 = 0x00;
const NVM_PAR: u8 = 0x31;
const NVM_PAR_LEN: usize = 21;

/// Section 3.9.2: 234 µs + (392 + 2020) µs pressure + (163 + 2020) µs
/// temperature = 4.829 ms at ×1.
const MEASUREMENT: Duration = Duration::from_millis(5);
const POLL_INTERVAL: Duration = Duration::from_millis(1);
const MAX_MEASUREMENT_WAIT: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chip3xx {
    Bmp388,
    Bmp390,
}

impl Chip3xx {
    fn id(self) -> u8 {
        match self {
            Chip3xx::Bmp388 => 0x50,
            Chip3xx::Bmp390 => 0x60,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Chip3xx::Bmp388 => "BMP388",
            Chip3xx::Bmp390 => "BMP390",
        }
    }

    fn other(self) -> Chip3xx {
        match self {
            Chip3xx::Bmp388 => Chip3xx::Bmp390,
            Chip3xx::Bmp390 => Chip3xx::Bmp388,
        }
    }
}

/// PAR_T1..PAR_P11: the NVM words with the datasheet's scalings applied.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Calibration {
    t: [f64; 3],
    p: [f64; 11],
}

impl Calibration {
    fn from_registers(bytes: &[u8; NVM_PAR_LEN]) -> Self {
        let u16_at = |i: usize| f64::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
        let i16_at = |i: usize| f64::from(i16::from_le_bytes([bytes[i], bytes[i + 1]]));
        let i8_at = |i: usize| f64::from(bytes[i] as i8);
        let two = |n: i32| 2f64.powi(n);
        Calibration {
            t: [u16_at(0) / two(-8), u16_at(2) / two(30), i8_at(4) / two(48)],
            p: [
                (i16_at(5) - two(14)) / two(20),
                (i16_at(7) - two(14)) / two(29),
                i8_at(9) / two(32),
                i8_at(10) / two(37),
                u16_at(11) / two(-3),
                u16_at(13) / two(6),
                i8_at(15) / two(8),
                i8_at(16) / two(15),
                i16_at(17) / two(48),
                i8_at(19) / two(48),
                i8_at(20) / two(65),
            ],
        }
    }

    /// Appendix 8.5 "Compensation formula in floating point": t_lin, in °C.
    fn temperature(&self, uncomp_temp: f64) -> f64 {
        let [t1, t2, t3] = self.t;
        let partial1 = uncomp_temp - t1;
        let partial2 = partial1 * t2;
        partial2 + partial1 * partial1 * t3
    }

    /// Appendix 8.5: pressure in Pa at t_lin.
    fn pressure(&self, uncomp_press: f64, t_lin: f64) -> f64 {
        let [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] = self.p;
        let t2 = t_lin * t_lin;
        let t3 = t2 * t_lin;
        let out1 = p5 + p6 * t_lin + p7 * t2 + p8 * t3;
        let out2 = uncomp_press * (p1 + p2 * t_lin + p3 * t2 + p4 * t3);
        let up2 = uncomp_press * uncomp_press;
        let partial4 = up2 * (p9 + p10 * t_lin) + up2 * uncomp_press * p11;
        out1 + out2 + partial4
    }
}

/// A 24-bit reading, least significant byte first.
fn raw24(xlsb: u8, lsb: u8, msb: u8) -> f64 {
    f64::from(u32::from_le_bytes([xlsb, lsb, msb, 0]))
}

#[derive(Debug)]
struct Bmp3xx {
    chip: Chip3xx,
}

impl Driver for Bmp3xx {
    fn values(&self) -> Vec<(String, String)> {
        value_names(&[
            ("temperature", "temperature_celsius"),
            ("pressure", "pressure_pascals"),
        ])
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let mut id = [0u8];
        chip.read_register(CHIP_ID, &mut id)?;
        if id[0] != self.chip.id() {
            let other = self.chip.other();
            let hint = if id[0] == other.id() {
                format!(
                    "; it is a {}'s: driver = \"{}\"",
                    other.name(),
                    other.name().to_lowercase()
                )
            } else {
                String::new()
            };
            return Err(chip.error(
                "reading the chip id",
                ReadFailure::Device(format!(
                    "chip id {:#04x} is not a {}'s ({:#04x}){hint}",
                    id[0],
                    self.chip.name(),
                    self.chip.id()
                )),
            ));
        }
        let mut nvm = [0u8; NVM_PAR_LEN];
        chip.read_register(NVM_PAR, &mut nvm)?;
        let calibration = Calibration::from_registers(&nvm);

        let mut power = [0u8];
        chip.read_register(PWR_CTRL, &mut power)?;
        if power[0] & MODE != SLEEP {
            chip.smbus_write_byte_data(PWR_CTRL, SLEEP)?;
            chip.wait(TO_SLEEP)?;
        }
        chip.smbus_write_byte_data(OSR, OVERSAMPLING_X1)?;
        chip.smbus_write_byte_data(PWR_CTRL, FORCED_BOTH)?;
        chip.wait_until(
            "the measurement",
            MEASUREMENT,
            POLL_INTERVAL,
            MAX_MEASUREMENT_WAIT,
            |chip| {
                let mut status = [0u8];
                chip.read_register(STATUS, &mut status)?;
                Ok(status[0] & DATA_READY == DATA_READY)
            },
        )?;
        let mut data = [0u8; 6];
        chip.read_register(DATA, &mut data)?;
        let [p_xlsb, p_lsb, p_msb, t_xlsb, t_lsb, t_msb] = data;
        let t_lin = calibration.temperature(raw24(t_xlsb, t_lsb, t_msb));
        let pascals = calibration.pressure(raw24(p_xlsb, p_lsb, p_msb), t_lin);
        if !t_lin.is_finite() || !pascals.is_finite() {
            return Err(chip.error(
                "compensating the readings",
                ReadFailure::Device("the calibration data gives no result (corrupt?)".into()),
            ));
        }
        Ok(vec![t_lin, pascals])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::driver::testing::assert_close;
    use crate::i2c::fake::{ScriptedBus, Step};
    use crate::i2c::I2cSource;

    /// The datasheet gives no worked example; this one is derived by hand from
    /// its appendix 8.5 formulas with typical NVM words: NVM_PAR_T1..T3 = 27262,
    /// 18934, −10; NVM_PAR_P1..P11 = 3457, 2585, 35, 2, 25166, 30776, 3, −6,
    /// 12641, 17, −60, as 0x31..0x45 hold them.
    const NVM: [u8; NVM_PAR_LEN] = [
        0x7E, 0x6A, 0xF6, 0x49, 0xF6, 0x81, 0x0D, 0x19, 0x0A, 0x23, 0x02, 0x4E, 0x62, 0x38, 0x78,
        0x03, 0xFA, 0x61, 0x31, 0x11, 0xC4,
    ];
    /// uncomp_press = 8850000 (0x870A50), uncomp_temp = 8150000 (0x7C5BF0),
    /// 0x04..0x09, least significant byte first.
    const DATA_EXAMPLE: [u8; 6] = [0x50, 0x0A, 0x87, 0xF0, 0x5B, 0x7C];
    /// partial1 = 8150000 − 27262·2^8 = 1170928; partial2 = 1170928 · 18934 / 2^30
    /// = 20.647748…; t_lin = partial2 + 1170928² · (−10 / 2^48) = 20.599037866 °C.
    const T_LIN: f64 = 20.59903786644827;
    /// out1 = PAR_P5 + P6·t + P7·t² + P8·t³ = 211236.934388…
    /// out2 = 8850000 · (P1 + P2·t + P3·t² + P4·t³) = −113758.010993…
    /// partial4 = 8850000² · (P9 + P10·t) + 8850000³ · P11 = 2487.614394…
    /// pressure = 99966.5378 Pa.
    const PRESSURE: f64 = 99966.53778859672;

    fn source(driver: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x77\ndriver = \"{driver}\"\n");
        I2cSource::from_toml(&text, "bmp3xx.toml").unwrap()
    }

    fn read(reg: u8, answer: &[u8]) -> Step {
        Step::WriteRead(vec![reg], answer.to_vec())
    }

    fn script_until_status(id: u8) -> Vec<Step> {
        vec![
            read(0x00, &[id]),
            read(0x31, &NVM),
            // Sleep (the reset value): straight to forced.
            read(0x1B, &[0x00]),
            Step::SmbusWriteByteData(0x1C, 0x00),
            Step::SmbusWriteByteData(0x1B, 0x13),
        ]
    }

    #[test]
    fn scalings_follow_the_datasheet() {
        let calibration = Calibration::from_registers(&NVM);
        assert_eq!(calibration.t[0], 27262.0 * 256.0);
        assert_eq!(calibration.t[1], 18934.0 / 1_073_741_824.0);
        assert_eq!(calibration.t[2], -10.0 / 2f64.powi(48));
        assert_eq!(calibration.p[0], (3457.0 - 16384.0) / 1_048_576.0);
        assert_eq!(calibration.p[4], 25166.0 * 8.0);
        assert_eq!(calibration.p[5], 30776.0 / 64.0);
        assert_eq!(calibration.p[7], -6.0 / 32768.0);
        assert_eq!(calibration.p[10], -60.0 / 2f64.powi(65));
    }

    #[test]
    fn compensation_matches_the_hand_derived_example() {
        let calibration = Calibration::from_registers(&NVM);
        assert_close(calibration.temperature(8_150_000.0), T_LIN);
        assert_close(calibration.pressure(8_850_000.0, T_LIN), PRESSURE);
    }

    #[test]
    fn forced_measurement_on_the_fake_bus() {
        for (driver, id) in [("bmp388", 0x50), ("bmp390", 0x60)] {
            let mut steps = script_until_status(id);
            // Pressure ready first, then both.
            steps.push(read(0x03, &[0x30]));
            steps.push(read(0x03, &[0x70]));
            steps.push(read(0x04, &DATA_EXAMPLE));
            let mut bus = ScriptedBus::at(0x77, steps);
            let values = source(driver).read_with(&mut bus).unwrap();
            assert_eq!(values[0].0, "temperature_celsius");
            assert_close(values[0].1, T_LIN);
            assert_eq!(values[1].0, "pressure_pascals");
            assert_close(values[1].1, PRESSURE);
            bus.assert_finished();
            let ms = Duration::from_millis;
            assert_eq!(bus.waits, vec![ms(5), ms(1)]);
        }
    }

    #[test]
    fn a_chip_in_normal_mode_is_put_to_sleep_first() {
        let mut bus = ScriptedBus::at(
            0x77,
            vec![
                read(0x00, &[0x60]),
                read(0x31, &NVM),
                read(0x1B, &[0x33]),
                Step::SmbusWriteByteData(0x1B, 0x00),
                Step::SmbusWriteByteData(0x1C, 0x00),
                Step::SmbusWriteByteData(0x1B, 0x13),
                read(0x03, &[0x70]),
                read(0x04, &DATA_EXAMPLE),
            ],
        );
        let values = source("bmp390").read_with(&mut bus).unwrap();
        assert_close(values[1].1, PRESSURE);
        bus.assert_finished();
        let ms = Duration::from_millis;
        assert_eq!(bus.waits, vec![ms(5), ms(5)]);
    }

    #[test]
    fn another_chip_id_fails_before_any_write() {
        let mut bus = ScriptedBus::at(0x77, vec![read(0x00, &[0x60])]);
        let error = source("bmp388").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: reading the chip id: chip id 0x60 is not a BMP388's (0x50); \
             it is a BMP390's: driver = \"bmp390\""
        );
        bus.assert_finished();
        let mut bus = ScriptedBus::at(0x77, vec![read(0x00, &[0x00])]);
        let error = source("bmp390").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: reading the chip id: chip id 0x00 is not a BMP390's (0x60)"
        );
        bus.assert_finished();
    }

    #[test]
    fn a_measurement_that_never_ends_fails() {
        let mut steps = script_until_status(0x50);
        // Polled at 5 ms and every millisecond until 20 ms; temperature never ready.
        for _ in 0..16 {
            steps.push(read(0x03, &[0x30]));
        }
        let mut bus = ScriptedBus::at(0x77, steps);
        let error = source("bmp388").read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x77: waiting for the measurement: not finished after 20ms"
        );
        bus.assert_finished();
    }

    #[test]
    fn a_nack_fails_the_read_naming_bus_and_address() {
        let mut bus = ScriptedBus::at(0x77, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = source("bmp388").read_with(&mut bus).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("i2c-1 address 0x77: reading 1 bytes from register 0x00: EREMOTEIO"),
            "{error}"
        );
        bus.assert_finished();
    }
}
