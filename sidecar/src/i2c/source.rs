//! One sensor file, parsed into an [`I2cSource`], and the source's read. This is
//! the dispatch: the file's top-level keys are read here, then either the driver it
//! names (from the registry in `drivers`) or the generic `[read]` reader reads the
//! rest, and `[names]` renames a driver's values.

use std::ops::RangeInclusive;
use std::path::Path;

use edge_common::exposition::names::is_label_name;

use super::bus::{I2cBus, LinuxBus};
use super::chip::Chip;
use super::driver::Driver;
use super::drivers;
use super::error::{I2cConfigError, I2cReadError};
use super::generic::GenericRead;
use super::toml_keys::{quoted, Document, Keys};

/// 7-bit addresses as i2cget takes them: 0x00–0x02 and 0x78–0x7F are reserved
/// (general call, CBUS, 10-bit addressing).
const ADDRESSES: RangeInclusive<i64> = 0x03..=0x77;

/// A parsed sensor file: what to read, where, and the names of its values.
#[derive(Debug)]
pub struct I2cSource {
    origin: String,
    bus: u32,
    address: u16,
    force: bool,
    driver_name: &'static str,
    /// The metric-name suffixes, `prefix` included, in the order `read` returns.
    names: Vec<String>,
    driver: Box<dyn Driver>,
}

impl I2cSource {
    /// Parses a sensor file (TOML). Errors name the file and, where possible, the
    /// key and line.
    pub fn load(path: &Path) -> Result<I2cSource, I2cConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| I2cConfigError::new(&origin, None, None, format!("reading: {e}")))?;
        Self::from_toml(&text, &origin)
    }

    /// Parses a sensor file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<I2cSource, I2cConfigError> {
        parse(text, origin)
    }

    /// Reads every value from `/dev/i2c-<bus>`.
    pub fn read(&self) -> Result<Vec<(String, f64)>, I2cReadError> {
        self.read_with(&mut LinuxBus::new(self.bus))
    }

    /// Reads every value through `bus`: (name, value) pairs in the file's order.
    /// Blocks for the conversion times, at most [`super::chip::MAX_WAIT_PER_READ`] in all plus
    /// the transfers: call it off any async runtime.
    pub fn read_with(&self, bus: &mut dyn I2cBus) -> Result<Vec<(String, f64)>, I2cReadError> {
        let mut chip = Chip::new(bus, self.bus, self.address);
        chip.select(self.force)?;
        let values = self.driver.read(&mut chip)?;
        debug_assert_eq!(values.len(), self.names.len(), "{}", self.origin);
        Ok(self.names.iter().cloned().zip(values).collect())
    }

    /// The file, as given to `load` or `from_toml`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The N of `/dev/i2c-N`.
    pub fn bus(&self) -> u32 {
        self.bus
    }

    /// The 7-bit device address.
    pub fn address(&self) -> u16 {
        self.address
    }

    /// Whether the address is taken even when a kernel driver holds it.
    pub fn force(&self) -> bool {
        self.force
    }

    /// The driver's name (`"sht3x"`), or `"generic"` for a `[read]` file.
    pub fn driver_name(&self) -> &'static str {
        self.driver_name
    }

    /// The names `read` returns, in order: valid metric-name suffixes, unique.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Parses one sensor file into a source.
fn parse(text: &str, origin: &str) -> Result<I2cSource, I2cConfigError> {
    let document = Document::parse(text, origin)?;
    let mut top = document.keys();

    let bus = top
        .integer_in("bus", 0..=i64::from(u32::MAX))?
        .ok_or_else(|| top.missing("bus", "the N of /dev/i2c-N"))?;
    let address = top
        .integer("address")?
        .ok_or_else(|| top.missing("address", "the 7-bit device address, e.g. 0x44"))?;
    if !ADDRESSES.contains(&address) {
        return Err(top.error(
            "address",
            format!(
                "{address:#04x} is not a 7-bit device address ({:#04x} to {:#04x})",
                ADDRESSES.start(),
                ADDRESSES.end()
            ),
        ));
    }
    let force = top.boolean("force")?.unwrap_or(false);
    let prefix = top.string("prefix")?.unwrap_or("");
    if !prefix.is_empty() && !is_label_name(prefix) {
        return Err(top.error(
            "prefix",
            format!("{prefix:?} is not a metric-name prefix ([a-zA-Z_][a-zA-Z0-9_]*)"),
        ));
    }

    let (driver_name, driver, names) = match top.string("driver")? {
        Some(name) => {
            let spec = drivers::find(name).ok_or_else(|| {
                top.error(
                    "driver",
                    format!(
                        "unknown driver {name:?} (known: {})",
                        quoted(drivers::ALL.iter().map(|d| d.name))
                    ),
                )
            })?;
            for key in ["read", "value"] {
                if top.has(key) {
                    return Err(top.error(
                        key,
                        format!("not with driver = {name:?}: the driver reads the chip itself"),
                    ));
                }
            }
            let driver = (spec.build)(&mut top)?;
            let names = driver_names(&mut top, name, &driver.values())?;
            (spec.name, driver, names)
        }
        None => {
            if top.has("names") {
                return Err(top.error(
                    "names",
                    "only with a driver; a [[value]] is named by its own name key",
                ));
            }
            let generic = GenericRead::parse(&mut top)?;
            let names = generic.values().into_iter().map(|(_, name)| name).collect();
            ("generic", Box::new(generic) as Box<dyn Driver>, names)
        }
    };
    top.finish()?;

    Ok(I2cSource {
        origin: origin.to_string(),
        bus: bus as u32,
        address: address as u16,
        force,
        driver_name,
        names: names
            .into_iter()
            .map(|name: String| format!("{prefix}{name}"))
            .collect(),
        driver,
    })
}

/// The driver's value names with the `[names]` overrides applied.
fn driver_names(
    top: &mut Keys<'_, '_>,
    driver: &str,
    values: &[(String, String)],
) -> Result<Vec<String>, I2cConfigError> {
    let mut names: Vec<String> = values.iter().map(|(_, name)| name.clone()).collect();
    let Some(table) = top.table("names")? else {
        return Ok(names);
    };
    let entries = table.string_entries()?;
    for (key, name) in entries {
        let Some(index) = values.iter().position(|(k, _)| k == key) else {
            return Err(table.error(
                key,
                format!(
                    "driver {driver:?} has no value {key:?} (it has: {})",
                    quoted(values.iter().map(|(k, _)| k.as_str()))
                ),
            ));
        };
        if !is_label_name(name) {
            return Err(table.error(
                key,
                format!("{name:?} is not a metric name ([a-zA-Z_][a-zA-Z0-9_]*)"),
            ));
        }
        names[index] = name.to_string();
    }
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            let key = &values[index].0;
            return Err(table.error(key, format!("{name:?} is used for two values")));
        }
    }
    Ok(names)
}
