//! What TI's INA219 and INA226 current/power monitors share: the register map
//! (configuration 0x00, shunt voltage 0x01, bus voltage 0x02, power 0x03, current
//! 0x04, calibration 0x05; 16-bit, big endian), the calibration register that
//! scales current and power (Cal = trunc(scale / (Current_LSB · R_shunt)),
//! Current_LSB = max_current_amps / 2¹⁵), and the read. A [`Model`] holds what
//! differs; `ina219` and `ina226` hold the models and their options.
//!
//! Without `shunt_ohms` a driver only reads the two voltages and never writes, so
//! it can share a chip the kernel's ina2xx driver holds (with force = true). With
//! it the driver owns the chip: it checks configuration and calibration on every
//! read and writes them again when they differ — both are lost in a power cycle,
//! and until calibrated the current and power registers stay 0 — then also reads
//! current and power. A chip with id registers is identified before anything else.

use std::time::Duration;

use crate::i2c::chip::Chip;
use crate::i2c::driver::{value_names, Driver, IdRegister};
use crate::i2c::error::{I2cConfigError, I2cReadError, ReadFailure};
use crate::i2c::toml_keys::Keys;

pub(super) const CONFIG: u8 = 0x00;
pub(super) const SHUNT_VOLTAGE: u8 = 0x01;
pub(super) const BUS_VOLTAGE: u8 = 0x02;
pub(super) const POWER: u8 = 0x03;
pub(super) const CURRENT: u8 = 0x04;
pub(super) const CALIBRATION: u8 = 0x05;

/// Steps of the signed current register: Current_LSB = maximum / 2¹⁵.
const CURRENT_STEPS: f64 = 32768.0;

/// Where a model flags that current or power overflowed the calibrated range.
#[derive(Debug)]
pub(super) enum OverflowFlag {
    /// A bit of the bus voltage register (INA219's OVF).
    InBusVoltage(u16),
    /// A bit of another register, read for it (INA226's Mask/Enable OVF).
    InRegister {
        register: u8,
        name: &'static str,
        bit: u16,
    },
}

/// What one chip of the family is: its ids and its constants.
#[derive(Debug)]
pub(super) struct Model {
    /// Checked, in order, before anything else (none on the INA219).
    pub ids: &'static [IdRegister],
    /// The datasheet's constant in Cal = trunc(scale / (Current_LSB · R_shunt)).
    pub calibration_scale: f64,
    /// The bits the calibration register has: it reads back without the others.
    pub calibration_mask: u16,
    /// The largest calibration the register holds.
    pub calibration_max: u16,
    /// A power step is this many current steps times 1 V.
    pub power_per_current_step: f64,
    pub bus_voltage: fn(u16) -> f64,
    pub shunt_volts_per_step: f64,
    pub overflow: OverflowFlag,
    /// How long after a new configuration the current and power registers hold
    /// results of the new calibration.
    pub settle: Duration,
}

impl Model {
    /// Cal for `max_current` through `shunt_ohms`, with the bits the register
    /// lacks cleared; `None` when that is 0 or does not fit.
    pub fn calibration_register(&self, shunt_ohms: f64, max_current: f64) -> Option<u16> {
        let current_lsb = max_current / CURRENT_STEPS;
        // Dividing exact decimals in binary lands a hair under integers (4095.99…
        // for 4096): trunc would then lose a whole step.
        let exact = self.calibration_scale / (current_lsb * shunt_ohms) * (1.0 + 1e-12);
        let register = exact.trunc();
        if !(1.0..=f64::from(self.calibration_max)).contains(&register) {
            return None;
        }
        match register as u16 & self.calibration_mask {
            0 => None,
            register => Some(register),
        }
    }

    /// Volts from the shunt voltage register: signed, fixed steps.
    pub fn shunt_voltage(&self, register: u16) -> f64 {
        f64::from(register as i16) * self.shunt_volts_per_step
    }

    /// The max_current_amps · shunt_ohms products the calibration register can
    /// represent, for the error when it cannot.
    fn product_range(&self) -> (f64, f64) {
        let smallest = 1u16 << self.calibration_mask.trailing_zeros();
        let volts = |cal: u16| self.calibration_scale * CURRENT_STEPS / f64::from(cal);
        (volts(self.calibration_max), volts(smallest))
    }
}

/// A driver for `model` from the options every model has. `model_options` are the
/// model's own (and whether the file gave them), which like `max_current_amps`
/// only make sense with `shunt_ohms`; `config` is what the driver programs, and
/// `shunt_range_volts` gives the default maximum current.
pub(super) fn build(
    keys: &Keys<'_, '_>,
    model: &'static Model,
    shunt_ohms: Option<f64>,
    max_current: Option<f64>,
    model_options: &[(&'static str, bool)],
    config: u16,
    shunt_range_volts: f64,
) -> Result<Box<dyn Driver>, I2cConfigError> {
    let Some(shunt_ohms) = shunt_ohms else {
        let options = [("max_current_amps", max_current.is_some())];
        for &(key, given) in options.iter().chain(model_options) {
            if given {
                return Err(keys.error(
                    key,
                    "only with shunt_ohms (without it the driver never writes to the chip)",
                ));
            }
        }
        return Ok(Box::new(Ina2xx {
            model,
            calibration: None,
        }));
    };
    if shunt_ohms <= 0.0 {
        return Err(keys.error("shunt_ohms", "must be more than 0"));
    }
    let max_current = max_current.unwrap_or(shunt_range_volts / shunt_ohms);
    if max_current <= 0.0 {
        return Err(keys.error("max_current_amps", "must be more than 0"));
    }
    let register = model
        .calibration_register(shunt_ohms, max_current)
        .ok_or_else(|| {
            let (low, high) = model.product_range();
            keys.error(
                "max_current_amps",
                format!(
                    "{max_current} A through {shunt_ohms} Ω does not fit the calibration \
                     register (max_current_amps × shunt_ohms must be from {low:.5} to \
                     {high:.0} V)"
                ),
            )
        })?;
    Ok(Box::new(Ina2xx {
        model,
        calibration: Some(Calibration {
            config,
            register,
            current_lsb: model.calibration_scale / (f64::from(register) * shunt_ohms),
        }),
    }))
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Calibration {
    config: u16,
    register: u16,
    /// Amperes per step of the current register.
    current_lsb: f64,
}

#[derive(Debug)]
struct Ina2xx {
    model: &'static Model,
    calibration: Option<Calibration>,
}

impl Ina2xx {
    fn overflowed(&self, chip: &mut Chip<'_>, bus: u16) -> Result<(), I2cReadError> {
        let (operation, set) = match self.model.overflow {
            OverflowFlag::InBusVoltage(bit) => ("reading the bus voltage register", bus & bit != 0),
            OverflowFlag::InRegister {
                register,
                name,
                bit,
            } => (name, chip.read_register_u16_be(register)? & bit != 0),
        };
        if set {
            return Err(chip.error(
                operation,
                ReadFailure::Device(
                    "math overflow flag set: the current is beyond the calibrated range \
                     (raise max_current_amps)"
                        .into(),
                ),
            ));
        }
        Ok(())
    }
}

impl Driver for Ina2xx {
    fn values(&self) -> Vec<(String, String)> {
        let mut values = vec![
            ("bus_voltage", "bus_voltage_volts"),
            ("shunt_voltage", "shunt_voltage_volts"),
        ];
        if self.calibration.is_some() {
            values.extend([("current", "current_amperes"), ("power", "power_watts")]);
        }
        value_names(&values)
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        for id in self.model.ids {
            id.check(chip)?;
        }
        if let Some(calibration) = &self.calibration {
            let config = chip.read_register_u16_be(CONFIG)?;
            let register = chip.read_register_u16_be(CALIBRATION)?;
            if config != calibration.config || register != calibration.register {
                chip.write_register_u16_be(CONFIG, calibration.config)?;
                chip.write_register_u16_be(CALIBRATION, calibration.register)?;
                chip.wait(self.model.settle)?;
            }
        }
        let bus = chip.read_register_u16_be(BUS_VOLTAGE)?;
        let shunt = chip.read_register_u16_be(SHUNT_VOLTAGE)?;
        let mut values = vec![
            (self.model.bus_voltage)(bus),
            self.model.shunt_voltage(shunt),
        ];
        if let Some(calibration) = &self.calibration {
            self.overflowed(chip, bus)?;
            let current = chip.read_register_u16_be(CURRENT)? as i16;
            let power = chip.read_register_u16_be(POWER)?;
            values.push(f64::from(current) * calibration.current_lsb);
            values.push(
                f64::from(power) * self.model.power_per_current_step * calibration.current_lsb,
            );
        }
        Ok(values)
    }
}
