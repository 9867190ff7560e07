//! TI ADS1115 16-bit ADC: one single-shot conversion per channel. Writing the
//! config register (0x01) with OS = 1 starts it; OS reads 0 while converting and
//! 1 when done; the conversion register (0x00) then holds a signed result whose
//! step is the full scale (the PGA setting) / 2¹⁵.
//!
//! Options: `channels` (`"ain0"`…`"ain3"` against GND, or the pairs `"ain0-ain1"`,
//! `"ain0-ain3"`, `"ain1-ain3"`, `"ain2-ain3"`; default `["ain0"]`),
//! `full_scale_volts` (6.144, 4.096, 2.048 (default), 1.024, 0.512, 0.256) and
//! `samples_per_second` (16 to 860, default 128). Values are volts, named
//! `ain0_volts`, `ain0_ain1_volts`, … (`[names]` keys `ain0`, `ain0_ain1`).

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{float_choice, Driver, DriverSpec};
use crate::i2c::error::{I2cConfigError, I2cReadError};
use crate::i2c::toml_keys::Keys;

pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: "ads1115",
    build,
};

const CONVERSION: u8 = 0x00;
const CONFIG: u8 = 0x01;
/// Config bit 15: write 1 to start a single shot; reads 1 when no conversion runs.
const OS: u16 = 0x8000;
/// Single-shot mode, comparator disabled (COMP_QUE = 11).
const SINGLE_SHOT: u16 = 0x0100 | 0b11;

/// Inputs by their MUX code (config bits 14..12).
const CHANNELS: [&str; 8] = [
    "ain0-ain1",
    "ain0-ain3",
    "ain1-ain3",
    "ain2-ain3",
    "ain0",
    "ain1",
    "ain2",
    "ain3",
];
/// Full-scale ranges by their PGA code (bits 11..9).
const FULL_SCALES: [f64; 6] = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256];
/// Data rates by their DR code (bits 7..5).
const RATES: [i64; 8] = [8, 16, 32, 64, 128, 250, 475, 860];

/// The longest wait for one conversion: 16 SPS converts in 62.5 ms (+10 % for
/// the oscillator), 8 SPS would need 137.5 ms and is refused.
const MAX_CONVERSION_WAIT: Duration = Duration::from_millis(100);
const POLL_INTERVAL: Duration = Duration::from_millis(1);

fn build(keys: &mut Keys<'_, '_>) -> Result<Box<dyn Driver>, I2cConfigError> {
    let names = keys.strings("channels")?.unwrap_or_else(|| vec!["ain0"]);
    if names.is_empty() {
        return Err(keys.error("channels", "must name at least one input"));
    }
    let mut muxes: Vec<u16> = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let mux = CHANNELS
            .iter()
            .position(|channel| channel == name)
            .ok_or_else(|| {
                keys.string_error(
                    "channels",
                    index,
                    format!(
                        "{name:?} is not an input ({})",
                        crate::i2c::toml_keys::quoted(CHANNELS.iter().copied())
                    ),
                )
            })? as u16;
        if muxes.contains(&mux) {
            return Err(keys.string_error("channels", index, format!("{name:?} is listed twice")));
        }
        muxes.push(mux);
    }
    let pga = float_choice(keys, "full_scale_volts", &FULL_SCALES)?.unwrap_or(2);
    let rate = keys.integer("samples_per_second")?.unwrap_or(128);
    let dr = match RATES.iter().position(|&r| r == rate) {
        Some(0) => {
            return Err(keys.error(
                "samples_per_second",
                "8 converts in 125 ms, longer than the 100 ms a conversion may take here",
            ))
        }
        Some(dr) => dr,
        None => {
            return Err(keys.error(
                "samples_per_second",
                format!("{rate} is not one of 16, 32, 64, 128, 250, 475, 860"),
            ))
        }
    };
    Ok(Box::new(Ads1115 {
        muxes,
        pga: pga as u16,
        dr: dr as u16,
    }))
}

#[derive(Debug)]
struct Ads1115 {
    muxes: Vec<u16>,
    pga: u16,
    dr: u16,
}

impl Ads1115 {
    fn config(&self, mux: u16) -> u16 {
        OS | mux << 12 | self.pga << 9 | self.dr << 5 | SINGLE_SHOT
    }

    /// The nominal conversion time plus the oscillator's 10 % tolerance.
    fn conversion_time(&self) -> Duration {
        let rate = RATES[usize::from(self.dr)] as u64;
        Duration::from_nanos(1_100_000_000 / rate)
    }

    fn volts(&self, raw: u16) -> f64 {
        f64::from(raw as i16) * FULL_SCALES[usize::from(self.pga)] / 32768.0
    }
}

impl Driver for Ads1115 {
    fn values(&self) -> Vec<(String, String)> {
        self.muxes
            .iter()
            .map(|&mux| {
                let key = CHANNELS[usize::from(mux)].replace('-', "_");
                let name = format!("{key}_volts");
                (key, name)
            })
            .collect()
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        let mut values = Vec::with_capacity(self.muxes.len());
        for &mux in &self.muxes {
            chip.write_register_u16_be(CONFIG, self.config(mux))?;
            chip.wait_until(
                &format!("the conversion of {}", CHANNELS[usize::from(mux)]),
                self.conversion_time(),
                POLL_INTERVAL,
                MAX_CONVERSION_WAIT,
                |chip| Ok(chip.read_register_u16_be(CONFIG)? & OS != 0),
            )?;
            let raw = chip.read_register_u16_be(CONVERSION)?;
            values.push(self.volts(raw));
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

    fn word(register: u8, value: u16) -> Step {
        Step::WriteRead(vec![register], value.to_be_bytes().to_vec())
    }

    fn source(options: &str) -> I2cSource {
        let text = format!("bus = 1\naddress = 0x48\ndriver = \"ads1115\"\n{options}");
        I2cSource::from_toml(&text, "ads1115.toml").unwrap()
    }

    #[test]
    fn the_config_word_matches_the_datasheet() {
        let ads = Ads1115 {
            muxes: vec![0],
            pga: 2,
            dr: 4,
        };
        // The datasheet's reset value 0x8583 is this setting with MUX 000 (and OS 1).
        assert_eq!(ads.config(0), 0x8583);
        assert_eq!(ads.config(4), 0xC583);
        assert_eq!(ads.conversion_time(), Duration::from_nanos(8_593_750));
        // Output codes: 0x7FFF is +FS·(2¹⁵−1)/2¹⁵, 0x8000 is −FS.
        assert_close(ads.volts(0x7FFF), 2.048 * 32767.0 / 32768.0);
        assert_close(ads.volts(0x8000), -2.048);
        assert_close(ads.volts(0x0001), 0.0000625);
    }

    #[test]
    fn converts_each_channel_polling_the_os_bit() {
        let source = source("channels = [\"ain0\", \"ain0-ain1\"]\nfull_scale_volts = 4.096\n");
        assert_eq!(source.names(), ["ain0_volts", "ain0_ain1_volts"]);
        let mut bus = ScriptedBus::at(
            0x48,
            vec![
                Step::Write(vec![CONFIG, 0xC3, 0x83]),
                word(CONFIG, 0x4383),
                word(CONFIG, 0xC383),
                word(CONVERSION, 0x7FFF),
                Step::Write(vec![CONFIG, 0x83, 0x83]),
                word(CONFIG, 0x8383),
                word(CONVERSION, 0x8000),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        let conversion = Duration::from_nanos(8_593_750);
        assert_eq!(bus.waits, vec![conversion, POLL_INTERVAL, conversion]);
        assert_close(values[0].1, 4.096 * 32767.0 / 32768.0);
        assert_close(values[1].1, -4.096);
    }

    #[test]
    fn a_conversion_that_never_ends_fails_within_100ms() {
        let source = source("samples_per_second = 860\n");
        let mut steps = vec![Step::Write(vec![CONFIG, 0xC5, 0xE3])];
        // 860 SPS: 1.279 ms, then every ms until 100 ms would pass: 99 checks.
        steps.extend((0..99).map(|_| word(CONFIG, 0x45E3)));
        let mut bus = ScriptedBus::at(0x48, steps);
        let error = source.read_with(&mut bus).unwrap_err();
        bus.assert_finished();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x48: waiting for the conversion of ain0: not finished after 99.279069ms"
        );
        let waited: Duration = bus.waits.iter().sum();
        assert!(waited <= MAX_CONVERSION_WAIT, "{waited:?}");
    }

    #[test]
    fn option_errors_name_the_key() {
        let cases = [
            ("channels = [\"ain0\", \"ain4\"]\n", "channels[1]"),
            ("channels = [\"ain1\", \"ain1\"]\n", "channels[1]"),
            ("channels = []\n", "channels"),
            ("channels = [0]\n", "channels[0]"),
            ("full_scale_volts = 5\n", "full_scale_volts"),
            ("samples_per_second = 8\n", "samples_per_second"),
            ("samples_per_second = 100\n", "samples_per_second"),
            ("gain = 1\n", "gain"),
        ];
        for (options, key) in cases {
            let text = format!("bus = 1\naddress = 0x48\ndriver = \"ads1115\"\n{options}");
            let error = I2cSource::from_toml(&text, "ads1115.toml").unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{options}: {error}");
            assert_eq!(error.line, Some(4), "{options}: {error}");
        }
    }
}
