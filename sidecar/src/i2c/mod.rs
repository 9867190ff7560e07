//! Native I2C sensor reads, so a node needs neither i2c-tools nor a script that
//! calls `i2cget`. One sensor file (TOML) describes one source: a bus, an
//! address, and either a chip driver (`driver = "sht3x"`) or a generic read
//! (`[read]` and `[[value]]`s: what `i2cset`/`i2cget`/`i2ctransfer` and shell
//! arithmetic did). The format is documented, with examples, in `sidecar/SENSORS.md`.
//!
//! - `source` — [`I2cSource`]: a sensor file parsed (the driver dispatch) and read.
//! - `toml_keys` — a TOML table read key by key so errors name file, line and key;
//!   a leaf that knows nothing of drivers.
//! - `driver` — the `Driver` trait and what drivers share.
//! - `drivers` — the registry of chip drivers (SHT3x/SHT4x, HTU21D/Si7021,
//!   INA219, INA226, INA3221, ADS1115, BMP280, BME280, BMP388/390, BMP180,
//!   SCD4x, SCD30, SGP40, BH1750, MCP9808), the only place that knows the list.
//! - `generic` — the generic reader and the byte-to-value decoding.
//! - `bus` — the [`I2cBus`] trait and its Linux implementation over i2cdev.
//! - `chip` — one device during one read: errors naming bus, address and
//!   operation, and the bounded waiting.
//!
//! Imports go one way, from the dispatch down to the leaves: `source` → `drivers`
//! and `generic` → `driver` → `toml_keys` and `chip` → `error` → `bus`. No module
//! imports one that imports it (tests excepted: they read whole sensor files).
//!
//! A read returns every value of its source or an error, never part of them: the
//! caller reports the source as failed (success 0) and logs the error, which
//! names the bus and the address.

mod bus;
mod chip;
mod crc;
mod driver;
mod drivers;
mod error;
#[cfg(test)]
mod fake;
mod generic;
mod source;
mod toml_keys;

pub use bus::{BusError, BusErrorKind, I2cBus, LinuxBus};
pub use chip::MAX_WAIT_PER_READ;
pub use error::{I2cConfigError, I2cReadError, ReadFailure};
pub use source::I2cSource;

#[cfg(test)]
mod tests {
    use super::*;
    use fake::{ScriptedBus, Step};
    use std::path::{Path, PathBuf};

    fn manifest_path(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }

    #[test]
    fn every_shipped_example_loads() {
        let dir = manifest_path("examples/sensors");
        let mut loaded = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let source = I2cSource::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!source.names().is_empty());
                loaded.push(source.driver_name());
            }
        }
        loaded.sort_unstable();
        // Every driver of the registry has an example file.
        for driver in drivers::ALL.iter().map(|spec| spec.name).chain(["generic"]) {
            assert!(
                loaded.contains(&driver),
                "no example for {driver}: {loaded:?}"
            );
        }
    }

    #[test]
    fn every_example_in_the_documentation_loads() {
        let doc = std::fs::read_to_string(manifest_path("SENSORS.md")).unwrap();
        let mut blocks = 0;
        let mut rest = doc.as_str();
        while let Some(start) = rest.find("```toml\n") {
            let body = &rest[start + "```toml\n".len()..];
            let end = body.find("```").unwrap();
            blocks += 1;
            I2cSource::from_toml(&body[..end], &format!("SENSORS.md block {blocks}"))
                .unwrap_or_else(|e| panic!("{e}"));
            rest = &body[end + 3..];
        }
        assert!(blocks >= 7, "{blocks} toml blocks");
    }

    #[test]
    fn sources_can_be_read_from_other_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<I2cSource>();
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = I2cSource::load(Path::new("/nonexistent/sht31.toml")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/nonexistent/sht31.toml: reading: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn accessors_describe_the_source() {
        let text =
            "bus = 3\naddress = 0x45\nforce = true\ndriver = \"sht3x\"\nprefix = \"attic_\"\n\
                    [names]\ntemperature = \"temp_celsius\"\n";
        let source = I2cSource::from_toml(text, "attic.toml").unwrap();
        assert_eq!(source.origin(), "attic.toml");
        assert_eq!(source.bus(), 3);
        assert_eq!(source.address(), 0x45);
        assert!(source.force());
        assert_eq!(source.driver_name(), "sht3x");
        assert_eq!(
            source.names(),
            ["attic_temp_celsius", "attic_humidity_percent"]
        );
    }

    #[test]
    fn busy_addresses_are_reported_and_force_is_passed_on() {
        let text = "bus = 1\naddress = 0x44\ndriver = \"sht3x\"\n";
        let source = I2cSource::from_toml(text, "sht31.toml").unwrap();
        let mut bus = ScriptedBus::new(vec![Step::Fail(libc::EBUSY)]);
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x44: selecting the address: EBUSY: Device or resource busy \
             (the address is in use by a kernel driver (force = true reads it anyway, as \
             i2cget -f does))"
        );
        match &error.failure {
            ReadFailure::Bus(bus) => assert_eq!(bus.kind(), BusErrorKind::Busy),
            other => panic!("{other:?}"),
        }

        let forced = I2cSource::from_toml(&format!("{text}force = true\n"), "f.toml").unwrap();
        let mut bus = ScriptedBus::new(vec![
            Step::SetAddress(0x44, true),
            Step::Write(vec![0x24, 0x00]),
            Step::Read(vec![0x66, 0x66, 0x93, 0x99, 0x99, 0xBE]),
        ]);
        forced.read_with(&mut bus).unwrap();
        bus.assert_finished();
    }

    /// Each case: a file (`{base}` is `bus` and `address`, `{generic}` a valid
    /// `[read]` with one `[[value]]`, lines 3 to 7), the key its error names (""
    /// for none) and the line (0 for none).
    #[test]
    fn sensor_file_errors_name_file_key_and_line() {
        let cases = [
            // The top level.
            ("address = 0x48\n", "bus", 0),
            ("bus = -1\naddress = 0x48\n", "bus", 1),
            ("bus = \"1\"\naddress = 0x48\n", "bus", 1),
            ("bus = 1\n", "address", 0),
            ("bus = 1\naddress = 0x78\n", "address", 2),
            ("bus = 1\naddress = 0x02\n", "address", 2),
            ("{base}force = 1\n{generic}", "force", 3),
            ("{base}prefix = \"9x\"\n{generic}", "prefix", 3),
            ("{base}driver = \"sht99\"\n", "driver", 3),
            ("{base}driver = \"sht3x\"\n{generic}", "read", 4),
            (
                "{base}driver = \"sht3x\"\n[names]\nwind = \"w\"\n",
                "names.wind",
                5,
            ),
            (
                "{base}driver = \"sht3x\"\n[names]\nhumidity = \"a-b\"\n",
                "names.humidity",
                5,
            ),
            (
                "{base}driver = \"sht3x\"\n[names]\nhumidity = \"temperature_celsius\"\n",
                "names.humidity",
                5,
            ),
            ("{base}driver = \"sht3x\"\nnames = 1\n", "names", 4),
            ("{base}{generic}[names]\nt = \"x\"\n", "names", 8),
            ("{base}", "read", 0),
            ("{base}colour = \"red\"\n{generic}", "colour", 3),
            // [read].
            ("{base}[read]\nkind = \"smbus_long\"\n", "read.kind", 4),
            ("{base}[read]\nkind = \"bytes\"\n", "read.length", 3),
            ("{base}[read]\nlength = 33\n", "read.length", 4),
            (
                "{base}[read]\nkind = \"smbus_byte\"\nlength = 1\n",
                "read.length",
                5,
            ),
            ("{base}[read]\nkind = \"smbus_word\"\n", "read.register", 3),
            (
                "{base}[read]\nregister = 256\nlength = 1\n",
                "read.register",
                4,
            ),
            (
                "{base}[read]\ncommand = [0x24, 0x100]\nlength = 1\n",
                "read.command[1]",
                4,
            ),
            (
                "{base}[read]\ncommand = []\nlength = 1\n",
                "read.command",
                4,
            ),
            (
                "{base}[read]\ndelay = \"20\"\nlength = 1\n",
                "read.delay",
                4,
            ),
            (
                "{base}[read]\ndelay = \"2s\"\nlength = 1\n",
                "read.delay",
                4,
            ),
            ("{base}[read]\nlength = 2\ncrc = true\n", "read.crc", 5),
            ("{base}[read]\nlength = 2\n", "value", 0),
            ("{base}[read]\nlength = 2\nvalue = []\n", "read.value", 5),
            // [[value]].
            (
                "{base}[read]\nlength = 2\n[[value]]\nwidth = 2\n",
                "value[0].name",
                5,
            ),
            (
                "{base}[read]\nlength = 2\n[[value]]\nname = \"1t\"\n",
                "value[0].name",
                6,
            ),
            (
                "{base}{generic}[[value]]\nname = \"t\"\nwidth = 1\n",
                "value[1].name",
                9,
            ),
            (
                "{base}[read]\nlength = 2\n[[value]]\nname = \"t\"\n",
                "value[0].width",
                5,
            ),
            (
                "{base}[read]\nlength = 2\n[[value]]\nname = \"t\"\nwidth = 5\n",
                "value[0].width",
                7,
            ),
            ("{base}{generic}offset = 1\n", "value[0].offset", 8),
            ("{base}{generic}offset = 2\n", "value[0].offset", 8),
            ("{base}{generic}crc8 = \"sensirion\"\n", "value[0].crc8", 8),
            ("{base}{generic}crc8 = \"crc16\"\n", "value[0].crc8", 8),
            (
                "{base}{generic}byte_order = \"middle\"\n",
                "value[0].byte_order",
                8,
            ),
            ("{base}{generic}signed = \"yes\"\n", "value[0].signed", 8),
            ("{base}{generic}shift = 16\n", "value[0].shift", 8),
            ("{base}{generic}mask = 0x10000\n", "value[0].mask", 8),
            (
                "{base}{generic}mask = 0x000F\nshift = 4\n",
                "value[0].shift",
                9,
            ),
            ("{base}{generic}scale = nan\n", "value[0].scale", 8),
            ("{base}{generic}add = \"1\"\n", "value[0].add", 8),
            ("{base}{generic}unit = \"C\"\n", "value[0].unit", 8),
            (
                "{base}[read]\nlength = 1\n[value]\nname = \"t\"\n",
                "value",
                5,
            ),
            // Syntax: no key, but the line.
            ("{base}[read\n", "", 3),
            ("{base}bus = 2\n", "", 3),
        ];
        for (template, key, line) in cases {
            let text = template
                .replace("{base}", "bus = 1\naddress = 0x48\n")
                .replace(
                    "{generic}",
                    "[read]\nlength = 2\n[[value]]\nname = \"t\"\nwidth = 2\n",
                );
            let error = match I2cSource::from_toml(&text, "sensor.toml") {
                Ok(_) => panic!("loaded:\n{text}"),
                Err(error) => error,
            };
            assert_eq!(error.origin, "sensor.toml", "{error}");
            assert_eq!(error.key.as_deref().unwrap_or(""), key, "{error}\n{text}");
            assert_eq!(error.line.unwrap_or(0), line, "{error}\n{text}");
            assert!(error.to_string().starts_with("sensor.toml"), "{error}");
        }
    }

    #[test]
    fn sensor_file_error_messages() {
        let error = I2cSource::from_toml("bus = 1\naddress = 0x78\n", "a.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "a.toml:2: address: 0x78 is not a 7-bit device address (0x03 to 0x77)"
        );
        let error = I2cSource::from_toml(
            "bus = 1\naddress = 0x40\ndriver = \"sht3x\"\nshunt_ohms = 1\n",
            "b.toml",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "b.toml:4: shunt_ohms: unknown key (known here: bus, address, force, prefix, driver, names)"
        );
        let error = I2cSource::from_toml(
            "bus = 1\naddress = 0x40\n[read]\nlength = 2\n[[value]]\nname = \"t\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "c.toml:5: value[0].width: missing (1 to 4 bytes with kind = \"bytes\")"
        );
        let error = I2cSource::from_toml("bus = 1\naddress = 0x40\n[read]\nkind = 2\n", "d.toml")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "d.toml:4: read.kind: expected a string, found integer"
        );
    }
}
