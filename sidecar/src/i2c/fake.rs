//! Fake buses for tests: a scripted one that checks each operation a driver makes
//! against the datasheet's sequence and answers with the datasheet's bytes, and an
//! adapter over i2cdev's mock register map for register-based chips.

use std::collections::VecDeque;
use std::time::Duration;

use i2cdev::core::I2CDevice;
use i2cdev::mock::MockI2CDevice;

use super::bus::{BusError, I2cBus};

/// One expected operation and the device's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    SetAddress(u16, bool),
    Write(Vec<u8>),
    /// A plain read, answered with these bytes.
    Read(Vec<u8>),
    /// A register read: the pointer bytes written, the bytes answered.
    WriteRead(Vec<u8>, Vec<u8>),
    SmbusReadByte(u8),
    SmbusReadByteData(u8, u8),
    SmbusReadWordData(u8, u16),
    SmbusWriteByteData(u8, u8),
    /// The next operation, whatever it is, fails with this errno.
    Fail(i32),
}

impl Step {
    /// A 16-bit register read, big endian (INA2xx, MCP9808): the pointer byte
    /// written, the word answered.
    pub fn word(register: u8, value: u16) -> Step {
        Step::WriteRead(vec![register], value.to_be_bytes().to_vec())
    }
}

/// Plays a script; any operation that differs from the next step fails the test.
#[derive(Debug, Default)]
pub struct ScriptedBus {
    steps: VecDeque<Step>,
    /// Every wait asked for, in order.
    pub waits: Vec<Duration>,
}

impl ScriptedBus {
    pub fn new(steps: Vec<Step>) -> Self {
        ScriptedBus {
            steps: steps.into(),
            waits: Vec::new(),
        }
    }

    /// A script that starts with selecting `address` (not forced).
    pub fn at(address: u16, steps: Vec<Step>) -> Self {
        let mut all = vec![Step::SetAddress(address, false)];
        all.extend(steps);
        ScriptedBus::new(all)
    }

    pub fn assert_finished(&self) {
        assert!(self.steps.is_empty(), "steps not taken: {:?}", self.steps);
    }

    fn next(&mut self, operation: &str) -> Result<Step, BusError> {
        match self.steps.pop_front() {
            Some(Step::Fail(errno)) => Err(BusError::from_errno(errno)),
            Some(step) => Ok(step),
            None => panic!("{operation}: the script has ended"),
        }
    }
}

fn fill(buf: &mut [u8], answer: &[u8]) {
    assert_eq!(buf.len(), answer.len(), "read length");
    buf.copy_from_slice(answer);
}

impl I2cBus for ScriptedBus {
    fn set_address(&mut self, address: u16, force: bool) -> Result<(), BusError> {
        let step = self.next("set_address")?;
        assert_eq!(step, Step::SetAddress(address, force));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError> {
        let step = self.next("write")?;
        assert_eq!(step, Step::Write(bytes.to_vec()));
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        match self.next("read")? {
            Step::Read(answer) => fill(buf, &answer),
            other => panic!("read of {} bytes, expected {other:?}", buf.len()),
        }
        Ok(())
    }

    fn write_read(&mut self, bytes: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        match self.next("write_read")? {
            Step::WriteRead(pointer, answer) => {
                assert_eq!(pointer, bytes, "pointer written");
                fill(buf, &answer);
            }
            other => panic!("write_read of {bytes:02x?}, expected {other:?}"),
        }
        Ok(())
    }

    fn smbus_read_byte(&mut self) -> Result<u8, BusError> {
        match self.next("smbus_read_byte")? {
            Step::SmbusReadByte(value) => Ok(value),
            other => panic!("smbus_read_byte, expected {other:?}"),
        }
    }

    fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, BusError> {
        match self.next("smbus_read_byte_data")? {
            Step::SmbusReadByteData(expected, value) if expected == register => Ok(value),
            other => panic!("smbus_read_byte_data({register:#04x}), expected {other:?}"),
        }
    }

    fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, BusError> {
        match self.next("smbus_read_word_data")? {
            Step::SmbusReadWordData(expected, value) if expected == register => Ok(value),
            other => panic!("smbus_read_word_data({register:#04x}), expected {other:?}"),
        }
    }

    fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), BusError> {
        let step = self.next("smbus_write_byte_data")?;
        assert_eq!(step, Step::SmbusWriteByteData(register, value));
        Ok(())
    }

    fn delay(&mut self, duration: Duration) {
        self.waits.push(duration);
    }
}

/// i2cdev's mock device (a 255-byte register map: a one-byte write sets the
/// pointer, longer writes store bytes from it) as a bus.
#[derive(Debug, Default)]
pub struct RegisterMapBus {
    pub device: MockI2CDevice,
    /// The last address selected, and whether forced.
    pub selected: Option<(u16, bool)>,
    pub waits: Vec<Duration>,
}

impl RegisterMapBus {
    pub fn with_registers(registers: &[(usize, &[u8])]) -> Self {
        let mut bus = RegisterMapBus::default();
        for (offset, bytes) in registers {
            bus.device.regmap.write_regs(*offset, bytes);
        }
        bus
    }

    pub fn register(&mut self, register: u8) -> u8 {
        let mut value = [0u8];
        self.device.write(&[register]).unwrap();
        self.device.read(&mut value).unwrap();
        value[0]
    }
}

fn mock_error(error: std::io::Error) -> BusError {
    BusError::from_io(&error)
}

impl I2cBus for RegisterMapBus {
    fn set_address(&mut self, address: u16, force: bool) -> Result<(), BusError> {
        self.selected = Some((address, force));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError> {
        self.device.write(bytes).map_err(mock_error)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        self.device.read(buf).map_err(mock_error)
    }

    fn write_read(&mut self, bytes: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        self.device.write(bytes).map_err(mock_error)?;
        self.device.read(buf).map_err(mock_error)
    }

    fn smbus_read_byte(&mut self) -> Result<u8, BusError> {
        self.device.smbus_read_byte().map_err(mock_error)
    }

    fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, BusError> {
        self.device
            .smbus_read_byte_data(register)
            .map_err(mock_error)
    }

    fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, BusError> {
        self.device
            .smbus_read_word_data(register)
            .map_err(mock_error)
    }

    fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), BusError> {
        self.device
            .smbus_write_byte_data(register, value)
            .map_err(mock_error)
    }

    fn delay(&mut self, duration: Duration) {
        self.waits.push(duration);
    }
}
