//! One device on a bus during one read: the bus operations drivers use, each failure
//! turned into an [`I2cReadError`] naming bus, address and operation, and the
//! waits counted against a budget so no read can hang the schedule.

use std::time::Duration;

use super::bus::{BusError, I2cBus};
use super::error::{I2cReadError, ReadFailure};

/// The most one read of a source may spend waiting for its device (conversion
/// times, polling). Bus transfers themselves are bounded by the adapter's timeout.
pub const MAX_WAIT_PER_READ: Duration = Duration::from_secs(1);

pub(crate) struct Chip<'b> {
    bus: &'b mut dyn I2cBus,
    bus_number: u32,
    address: u16,
    waited: Duration,
}

impl<'b> Chip<'b> {
    pub fn new(bus: &'b mut dyn I2cBus, bus_number: u32, address: u16) -> Self {
        Chip {
            bus,
            bus_number,
            address,
            waited: Duration::ZERO,
        }
    }

    pub fn error(&self, operation: impl Into<String>, failure: ReadFailure) -> I2cReadError {
        I2cReadError {
            bus: self.bus_number,
            address: self.address,
            operation: operation.into(),
            failure,
        }
    }

    /// Turns a bus failure into an error; `operation` is only built on failure.
    fn bus_failed(
        &self,
        operation: impl FnOnce() -> String,
    ) -> impl FnOnce(BusError) -> I2cReadError {
        let (bus, address) = (self.bus_number, self.address);
        move |error| I2cReadError {
            bus,
            address,
            operation: operation(),
            failure: ReadFailure::Bus(error),
        }
    }

    pub fn select(&mut self, force: bool) -> Result<(), I2cReadError> {
        let failed = self.bus_failed(|| {
            if force {
                "selecting the address (forced)".into()
            } else {
                "selecting the address".into()
            }
        });
        self.bus.set_address(self.address, force).map_err(failed)
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), I2cReadError> {
        let failed = self.bus_failed(|| format!("writing {}", hex_bytes(bytes)));
        self.bus.write(bytes).map_err(failed)
    }

    pub fn read(&mut self, buf: &mut [u8]) -> Result<(), I2cReadError> {
        let len = buf.len();
        let failed = self.bus_failed(|| format!("reading {len} bytes"));
        self.bus.read(buf).map_err(failed)
    }

    /// Writes `bytes`, then reads `buf.len()` bytes after a repeated start.
    pub fn write_read(&mut self, bytes: &[u8], buf: &mut [u8]) -> Result<(), I2cReadError> {
        let len = buf.len();
        let failed =
            self.bus_failed(|| format!("writing {} then reading {len} bytes", hex_bytes(bytes)));
        self.bus.write_read(bytes, buf).map_err(failed)
    }

    /// Reads `buf.len()` bytes from `register` (pointer write, repeated start, read).
    pub fn read_register(&mut self, register: u8, buf: &mut [u8]) -> Result<(), I2cReadError> {
        let len = buf.len();
        let failed =
            self.bus_failed(|| format!("reading {len} bytes from register {register:#04x}"));
        self.bus.write_read(&[register], buf).map_err(failed)
    }

    /// A 16-bit register sent most significant byte first (INA219, ADS1115).
    pub fn read_register_u16_be(&mut self, register: u8) -> Result<u16, I2cReadError> {
        let mut buf = [0u8; 2];
        self.read_register(register, &mut buf)?;
        Ok(u16::from_be_bytes(buf))
    }

    pub fn write_register_u16_be(&mut self, register: u8, value: u16) -> Result<(), I2cReadError> {
        let [high, low] = value.to_be_bytes();
        self.write(&[register, high, low])
    }

    pub fn smbus_read_byte(&mut self) -> Result<u8, I2cReadError> {
        let failed = self.bus_failed(|| "SMBus receive byte".into());
        self.bus.smbus_read_byte().map_err(failed)
    }

    pub fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, I2cReadError> {
        let failed = self.bus_failed(|| format!("SMBus read byte from register {register:#04x}"));
        self.bus.smbus_read_byte_data(register).map_err(failed)
    }

    pub fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, I2cReadError> {
        let failed = self.bus_failed(|| format!("SMBus read word from register {register:#04x}"));
        self.bus.smbus_read_word_data(register).map_err(failed)
    }

    pub fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), I2cReadError> {
        let failed = self
            .bus_failed(|| format!("SMBus write byte {value:#04x} to register {register:#04x}"));
        self.bus
            .smbus_write_byte_data(register, value)
            .map_err(failed)
    }

    /// Waits, within what is left of [`MAX_WAIT_PER_READ`].
    pub fn wait(&mut self, duration: Duration) -> Result<(), I2cReadError> {
        let total = self.waited + duration;
        if total > MAX_WAIT_PER_READ {
            return Err(self.error(
                format!("waiting {duration:?}"),
                ReadFailure::Device(format!(
                    "the read would wait {total:?} in all, more than {MAX_WAIT_PER_READ:?}"
                )),
            ));
        }
        self.bus.delay(duration);
        self.waited = total;
        Ok(())
    }

    /// Waits `first` (the nominal conversion time), then asks `ready` every
    /// `interval` until it says yes; fails once waiting would pass `limit`.
    pub fn wait_until(
        &mut self,
        what: &str,
        first: Duration,
        interval: Duration,
        limit: Duration,
        mut ready: impl FnMut(&mut Self) -> Result<bool, I2cReadError>,
    ) -> Result<(), I2cReadError> {
        self.wait(first)?;
        let mut waited = first;
        while !ready(self)? {
            if waited + interval > limit {
                return Err(self.error(
                    format!("waiting for {what}"),
                    ReadFailure::Device(format!("not finished after {waited:?}")),
                ));
            }
            self.wait(interval)?;
            waited += interval;
        }
        Ok(())
    }
}

/// `0x24 0x00`, as i2ctransfer spells bytes.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:#04x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{ScriptedBus, Step};

    #[test]
    fn bus_failures_name_the_operation() {
        let mut bus = ScriptedBus::new(vec![Step::Fail(libc::EREMOTEIO)]);
        let mut chip = Chip::new(&mut bus, 3, 0x44);
        let error = chip.write(&[0x24, 0x00]).unwrap_err();
        assert_eq!(error.operation, "writing 0x24 0x00");
        assert_eq!(error.bus, 3);
        assert_eq!(error.address, 0x44);
        assert!(error
            .to_string()
            .starts_with("i2c-3 address 0x44: writing 0x24 0x00: EREMOTEIO"));
    }

    #[test]
    fn waits_are_bounded_in_total() {
        let mut bus = ScriptedBus::new(vec![]);
        let mut chip = Chip::new(&mut bus, 1, 0x48);
        chip.wait(Duration::from_millis(600)).unwrap();
        let error = chip.wait(Duration::from_millis(500)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x48: waiting 500ms: the read would wait 1.1s in all, more than 1s"
        );
        assert_eq!(bus.waits, vec![Duration::from_millis(600)]);
    }

    #[test]
    fn polling_stops_at_its_limit() {
        let mut bus = ScriptedBus::new(vec![]);
        let mut chip = Chip::new(&mut bus, 1, 0x48);
        let mut asked = 0;
        let error = chip
            .wait_until(
                "the conversion",
                Duration::from_millis(5),
                Duration::from_millis(2),
                Duration::from_millis(10),
                |_| {
                    asked += 1;
                    Ok(false)
                },
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x48: waiting for the conversion: not finished after 9ms"
        );
        // Asked after 5, 7 and 9 ms; 11 ms would pass the limit.
        assert_eq!(asked, 3);
        let ms = Duration::from_millis;
        assert_eq!(bus.waits, vec![ms(5), ms(2), ms(2)]);
    }
}
