//! The bus operations sensor reads need, as a trait so tests can put a fake bus
//! under every driver, and its Linux implementation over i2cdev (`/dev/i2c-N`).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use i2cdev::core::{I2CDevice, I2CMessage, I2CTransfer};
use i2cdev::linux::{LinuxI2CDevice, LinuxI2CError, LinuxI2CMessage};
use nix::errno::Errno;

/// One I2C adapter, talking to one device address at a time.
pub trait I2cBus {
    /// Selects the device later operations talk to. `force` takes an address a
    /// kernel driver holds (`I2C_SLAVE_FORCE`, as `i2cget -f` does).
    fn set_address(&mut self, address: u16, force: bool) -> Result<(), BusError>;
    /// One plain I2C write transaction.
    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError>;
    /// One plain I2C read transaction filling `buf`.
    fn read(&mut self, buf: &mut [u8]) -> Result<(), BusError>;
    /// A write then a read with a repeated start between (a register read).
    fn write_read(&mut self, bytes: &[u8], buf: &mut [u8]) -> Result<(), BusError>;
    /// SMBus receive byte (`i2cget` without a data address).
    fn smbus_read_byte(&mut self) -> Result<u8, BusError>;
    /// SMBus read byte data (`i2cget ADDR REG b`).
    fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, BusError>;
    /// SMBus read word data (`i2cget ADDR REG w`): the first byte on the wire is
    /// the low byte of the result.
    fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, BusError>;
    /// SMBus write byte data (`i2cset ADDR REG VALUE`).
    fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), BusError>;
    /// Waits for a device to finish: a fake bus counts the time instead of sleeping.
    fn delay(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// What kind of failure a [`BusError`] is, for callers that treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// EBUSY: a kernel driver holds the address.
    Busy,
    /// ENXIO or EREMOTEIO: no acknowledge — nothing at the address, or a device
    /// that is still converting and refuses the read.
    Nack,
    /// ETIMEDOUT: the transfer did not finish (a device holding SCL or SDA low).
    Timeout,
    Other,
}

/// A failed bus operation: the errno when the kernel gave one, and what was being
/// done when it is more than the operation the caller names (opening the bus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError {
    errno: Option<Errno>,
    context: Option<String>,
    /// Only for failures without an errno.
    message: Option<String>,
}

impl BusError {
    pub fn from_errno(errno: i32) -> Self {
        BusError {
            errno: Some(Errno::from_raw(errno)),
            context: None,
            message: None,
        }
    }

    pub fn from_io(error: &io::Error) -> Self {
        match error.raw_os_error() {
            Some(errno) => BusError::from_errno(errno),
            None => BusError::other(error.to_string()),
        }
    }

    /// A failure without an errno (a short transfer).
    pub fn other(message: impl Into<String>) -> Self {
        BusError {
            errno: None,
            context: None,
            message: Some(message.into()),
        }
    }

    /// Prefixes the message with what was being done: `opening /dev/i2c-1: …`.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    pub fn errno(&self) -> Option<i32> {
        self.errno.map(|errno| errno as i32)
    }

    pub fn kind(&self) -> BusErrorKind {
        match self.errno {
            Some(Errno::EBUSY) => BusErrorKind::Busy,
            Some(Errno::ENXIO | Errno::EREMOTEIO) => BusErrorKind::Nack,
            Some(Errno::ETIMEDOUT) => BusErrorKind::Timeout,
            _ => BusErrorKind::Other,
        }
    }

    /// What an errno most likely means on an I2C bus: the kernel's texts ("Remote
    /// I/O error") do not say it was a NACK.
    fn hint(&self) -> Option<&'static str> {
        Some(match self.errno? {
            Errno::EBUSY => {
                "the address is in use by a kernel driver (force = true reads it anyway, as i2cget -f does)"
            }
            Errno::ENXIO | Errno::EREMOTEIO => {
                "no acknowledge: no device at this address, or it is still busy"
            }
            Errno::ETIMEDOUT => "the bus timed out: a device may hold SCL or SDA low",
            Errno::ENOENT => "no such bus: is it enabled and the i2c-dev module loaded?",
            Errno::EACCES | Errno::EPERM => "no permission to use the bus device",
            Errno::EOPNOTSUPP => "the adapter does not support this kind of transfer",
            _ => return None,
        })
    }
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        match (self.errno, &self.message) {
            (Some(errno), _) => {
                write!(f, "{errno}")?;
                if let Some(hint) = self.hint() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            (None, Some(message)) => f.write_str(message),
            (None, None) => f.write_str("failed"),
        }
    }
}

impl std::error::Error for BusError {}

impl From<LinuxI2CError> for BusError {
    fn from(error: LinuxI2CError) -> Self {
        match error {
            LinuxI2CError::Errno(errno) => BusError::from_errno(errno),
            LinuxI2CError::Io(error) => BusError::from_io(&error),
        }
    }
}

/// `/dev/i2c-<bus>`, opened when an address is selected and closed with the value,
/// as `i2cget` does: nothing stays open between scheduled reads.
#[derive(Debug)]
pub struct LinuxBus {
    path: PathBuf,
    device: Option<LinuxI2CDevice>,
}

impl LinuxBus {
    pub fn new(bus: u32) -> Self {
        LinuxBus::at_path(PathBuf::from(format!("/dev/i2c-{bus}")))
    }

    /// A bus device found elsewhere than `/dev` (`edge-sidecar scan --path.dev`).
    pub fn at_path(path: PathBuf) -> Self {
        LinuxBus { path, device: None }
    }

    fn device(&mut self) -> Result<&mut LinuxI2CDevice, BusError> {
        self.device
            .as_mut()
            .ok_or_else(|| BusError::other("no address selected"))
    }
}

impl I2cBus for LinuxBus {
    fn set_address(&mut self, address: u16, force: bool) -> Result<(), BusError> {
        let path = &self.path;
        self.device = None;
        let device = if force {
            // SAFETY: force_new is unsafe because the driver bound to the address
            // may be confused by reads it did not make, not for memory safety; the
            // sensor file asked for that with force = true, like `i2cget -f`.
            unsafe { LinuxI2CDevice::force_new(path, address) }
        } else {
            LinuxI2CDevice::new(path, address)
        };
        self.device = Some(
            device.map_err(|e| BusError::from(e).context(format!("opening {}", path.display())))?,
        );
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError> {
        Ok(self.device()?.write(bytes)?)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        Ok(self.device()?.read(buf)?)
    }

    fn write_read(&mut self, bytes: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        let mut messages = [LinuxI2CMessage::write(bytes), LinuxI2CMessage::read(buf)];
        let done = self.device()?.transfer(&mut messages)?;
        // I2C_RDWR reports how many messages went through; fewer is a failure the
        // kernel did not turn into an errno.
        if done != 2 {
            return Err(BusError::other(format!(
                "only {done} of 2 messages transferred"
            )));
        }
        Ok(())
    }

    fn smbus_read_byte(&mut self) -> Result<u8, BusError> {
        Ok(self.device()?.smbus_read_byte()?)
    }

    fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, BusError> {
        Ok(self.device()?.smbus_read_byte_data(register)?)
    }

    fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, BusError> {
        Ok(self.device()?.smbus_read_word_data(register)?)
    }

    fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), BusError> {
        Ok(self.device()?.smbus_write_byte_data(register, value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_named_and_explained() {
        let busy = BusError::from_errno(libc::EBUSY);
        assert_eq!(busy.kind(), BusErrorKind::Busy);
        assert_eq!(
            busy.to_string(),
            "EBUSY: Device or resource busy (the address is in use by a kernel driver \
             (force = true reads it anyway, as i2cget -f does))"
        );
        assert_eq!(BusError::from_errno(libc::ENXIO).kind(), BusErrorKind::Nack);
        let nack = BusError::from_errno(libc::EREMOTEIO);
        assert_eq!(nack.kind(), BusErrorKind::Nack);
        assert_eq!(nack.errno(), Some(libc::EREMOTEIO));
        assert_eq!(
            nack.to_string(),
            "EREMOTEIO: Remote I/O error (no acknowledge: no device at this address, or it is still busy)"
        );
        assert_eq!(
            BusError::from_errno(libc::ETIMEDOUT).kind(),
            BusErrorKind::Timeout
        );
        let missing = BusError::from_io(&io::Error::from_raw_os_error(libc::ENOENT))
            .context("opening /dev/i2c-7");
        assert_eq!(missing.kind(), BusErrorKind::Other);
        assert_eq!(
            missing.to_string(),
            "opening /dev/i2c-7: ENOENT: No such file or directory \
             (no such bus: is it enabled and the i2c-dev module loaded?)"
        );
        let short = BusError::from_io(&io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
        assert_eq!(short.errno(), None);
        assert_eq!(short.to_string(), "short read");
    }

    #[test]
    fn a_missing_bus_fails_when_the_address_is_selected() {
        let mut bus = LinuxBus::new(4_000_000);
        let error = bus.set_address(0x44, false).unwrap_err();
        assert_eq!(error.errno(), Some(libc::ENOENT));
        assert!(error
            .to_string()
            .starts_with("opening /dev/i2c-4000000: ENOENT"));
        assert_eq!(
            bus.write(&[0]).unwrap_err().to_string(),
            "no address selected"
        );
    }
}
