//! The registry of chip drivers: the only place that knows the list, and finds a
//! driver by the name a sensor file gives (`driver = "sht3x"`). What a driver is
//! lives in `driver`; each module here holds one chip family and a `SPEC` naming
//! it and reading its options from the sensor file.

pub mod ads1115;
pub mod bh1750;
pub mod bme280;
pub mod bmp180;
pub mod bmp280;
pub mod bmp3xx;
pub mod htu21d;
pub mod ina219;
pub mod ina226;
mod ina2xx;
pub mod ina3221;
pub mod mcp9808;
pub mod scd30;
pub mod scd4x;
mod sensirion;
pub mod sgp40;
pub mod sht;

use super::driver::DriverSpec;

pub(crate) const ALL: &[DriverSpec] = &[
    sht::SHT3X,
    sht::SHT4X,
    htu21d::HTU21D,
    htu21d::SI7021,
    scd4x::SPEC,
    scd30::SPEC,
    sgp40::SPEC,
    bmp280::SPEC,
    bme280::SPEC,
    bmp3xx::BMP388,
    bmp3xx::BMP390,
    bmp180::SPEC,
    ina219::SPEC,
    ina226::SPEC,
    ina3221::SPEC,
    ads1115::SPEC,
    mcp9808::SPEC,
    bh1750::SPEC,
];

pub(crate) fn find(name: &str) -> Option<&'static DriverSpec> {
    ALL.iter().find(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for (index, spec) in ALL.iter().enumerate() {
            assert!(ALL[..index].iter().all(|other| other.name != spec.name));
            assert_eq!(find(spec.name).map(|s| s.name), Some(spec.name));
        }
        assert!(find("sht99").is_none());
    }
}
