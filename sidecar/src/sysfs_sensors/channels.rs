//! IIO channel types: the kernel's names (Documentation/ABI/testing/sysfs-bus-iio),
//! the units the ABI gives their values in, and ours.
//!
//! The ABI: `in_<type>[N][_<modifier>]_input` is already scaled, in the type's ABI
//! unit; otherwise the value is `(in_…_raw + in_…_offset) × in_…_scale` in that unit,
//! where `_scale` and `_offset` are the channel's own or shared by all channels of
//! the type (`in_voltage_scale`), a missing offset 0 and a missing scale 1. We then
//! multiply by [`ChannelType::factor`] into base units. Surprises worth a line: IIO
//! pressure is in kilopascal (not Pa or hPa), concentration in percent (so ppm is
//! × 10 000), temperature, relative humidity, voltage, current and power in milli-units.
//!
//! A channel type not in [`CHANNEL_TYPES`] has no unit we can vouch for: it is
//! skipped (and listed by `--check`), never written in unknown units.

use edge_common::exposition::names::is_label_name;

/// One IIO channel type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelType {
    /// The ABI's name: `in_<abi>…`.
    pub abi: &'static str,
    /// Ours, the start of the metric name.
    pub name: &'static str,
    /// The metric name's unit suffix (base unit), empty for a unitless one.
    pub unit: &'static str,
    /// The ABI's unit, for the docs and `--check`.
    pub abi_unit: &'static str,
    /// ABI unit → base unit.
    pub factor: f64,
}

const fn channel(
    abi: &'static str,
    name: &'static str,
    unit: &'static str,
    abi_unit: &'static str,
    factor: f64,
) -> ChannelType {
    ChannelType {
        abi,
        name,
        unit,
        abi_unit,
        factor,
    }
}

/// The channel types read, with their ABI units (sysfs-bus-iio, the `_raw` entries'
/// "Units after application of scale and offset are …" and the `_input` entries).
pub const CHANNEL_TYPES: &[ChannelType] = &[
    channel(
        "temp",
        "temperature",
        "celsius",
        "milli degrees Celsius",
        1e-3,
    ),
    channel(
        "humidityrelative",
        "humidity",
        "percent",
        "milli percent",
        1e-3,
    ),
    channel("pressure", "pressure", "pascals", "kilopascal", 1e3),
    channel("illuminance", "illuminance", "lux", "lux", 1.0),
    // in_concentration_co2 → co2_ppm: the modifier names the gas (see `key`).
    channel("concentration", "concentration", "ppm", "percent", 1e4),
    channel("voltage", "voltage", "volts", "millivolts", 1e-3),
    channel("current", "current", "amperes", "milliamps", 1e-3),
    channel("power", "power", "watts", "milliwatts", 1e-3),
    channel("resistance", "resistance", "ohms", "ohms", 1.0),
    // The ABI: "often unitless"; meters where a scale is given. Named without a unit.
    channel(
        "proximity",
        "proximity",
        "",
        "unitless (meters where scaled)",
        1.0,
    ),
    channel("intensity", "intensity", "", "unitless", 1.0),
    channel("uvindex", "uv_index", "", "UV index", 1.0),
    channel(
        "accel",
        "acceleration",
        "meters_per_second_squared",
        "m/s²",
        1.0,
    ),
    channel(
        "anglvel",
        "angular_velocity",
        "radians_per_second",
        "rad/s",
        1.0,
    ),
];

/// A channel's stem (`temp`, `voltage0`, `concentration_co2`, `voltage0-voltage1`:
/// the file name without `in_` and `_raw`/`_input`), its type and our key for it;
/// `None` for a type we have no unit for, or a stem that makes no metric name.
pub fn classify(stem: &str) -> Option<(&'static ChannelType, String)> {
    // The longest type name that the stem starts with and that ends where an index,
    // a modifier or a differential channel begins (`temp` is not `tempfoo`).
    let kind = CHANNEL_TYPES
        .iter()
        .filter(|t| {
            stem.strip_prefix(t.abi).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with(|c: char| c.is_ascii_digit() || c == '_' || c == '-')
            })
        })
        .max_by_key(|t| t.abi.len())?;
    let rest = &stem[kind.abi.len()..];
    let body = match (kind.abi, rest.strip_prefix('_')) {
        ("concentration", Some(gas)) => gas.to_string(),
        _ => format!("{}{}", kind.name, rest.replace('-', "_")),
    };
    let key = if kind.unit.is_empty() {
        body
    } else {
        format!("{body}_{}", kind.unit)
    };
    let plain = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (plain && is_label_name(&key)).then_some((kind, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_channel_names_map_to_ours() {
        let cases = [
            ("temp", Some("temperature_celsius")),
            ("temp0", Some("temperature0_celsius")),
            ("temp_ambient", Some("temperature_ambient_celsius")),
            ("humidityrelative", Some("humidity_percent")),
            ("pressure", Some("pressure_pascals")),
            ("illuminance0", Some("illuminance0_lux")),
            ("concentration_co2", Some("co2_ppm")),
            ("concentration_voc", Some("voc_ppm")),
            ("concentration", Some("concentration_ppm")),
            ("voltage0", Some("voltage0_volts")),
            ("voltage0-voltage1", Some("voltage0_voltage1_volts")),
            ("current1", Some("current1_amperes")),
            ("proximity0", Some("proximity0")),
            ("accel_x", Some("acceleration_x_meters_per_second_squared")),
            // Not ours to guess: no unit, or no metric name.
            ("magn_x", None),
            ("tempfoo", None),
            ("velocity_sqrt(x^2+y^2+z^2)", None),
        ];
        for (stem, key) in cases {
            assert_eq!(classify(stem).map(|(_, k)| k).as_deref(), key, "{stem}");
        }
        let (kind, _) = classify("pressure").unwrap();
        assert_eq!((kind.abi_unit, kind.factor), ("kilopascal", 1000.0));
    }
}
