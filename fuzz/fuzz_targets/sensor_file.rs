//! The sidecar's I2C sensor files (`I2cSource::from_toml`: the TOML, the driver
//! dispatch, the generic `[read]` reader's keys), and, for a file that loads, one
//! read (`I2cSource::read_with`) on a bus that answers with fuzzed bytes: what a
//! device sends is outside input too.
//!
//! The input is the file, then 0xFF, then the bus's bytes. Never panics; a file that
//! loads has valid, unique value names; a read that succeeds returns one value per
//! name.
#![no_main]

use std::time::Duration;

use edge_common::exposition::names::is_label_name;
use edge_metrics_fuzz::{parts, text};
use edge_sidecar::i2c::{BusError, I2cBus, I2cSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts = parts(data, 2);
    let Some(file) = text(parts[0]) else {
        return;
    };
    let source = match I2cSource::from_toml(file, "fuzz.toml") {
        Ok(source) => source,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let names = source.names();
    assert!(!names.is_empty(), "a source without values");
    for (index, name) in names.iter().enumerate() {
        assert!(is_label_name(name), "value name {name:?}");
        assert!(!names[..index].contains(name), "value name {name:?} twice");
    }
    let mut bus = FuzzBus {
        answers: parts.get(1).copied().unwrap_or_default(),
        waited: Duration::ZERO,
    };
    match source.read_with(&mut bus) {
        Ok(values) => assert_eq!(values.len(), names.len()),
        Err(error) => {
            let _ = error.to_string();
        }
    }
});

/// A bus whose device answers each read with the next fuzzed bytes and fails once
/// they run out; writes always succeed, waits are only counted.
struct FuzzBus<'a> {
    answers: &'a [u8],
    waited: Duration,
}

impl FuzzBus<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], BusError> {
        if self.answers.len() < len {
            return Err(BusError::from_errno(libc_eremoteio()));
        }
        let (taken, rest) = self.answers.split_at(len);
        self.answers = rest;
        Ok(taken)
    }
}

/// EREMOTEIO, the kernel's "no acknowledge".
fn libc_eremoteio() -> i32 {
    121
}

impl I2cBus for FuzzBus<'_> {
    fn set_address(&mut self, _address: u16, _force: bool) -> Result<(), BusError> {
        Ok(())
    }

    fn write(&mut self, _bytes: &[u8]) -> Result<(), BusError> {
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        let answer = self.take(buf.len())?;
        buf.copy_from_slice(answer);
        Ok(())
    }

    fn write_read(&mut self, _bytes: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        self.read(buf)
    }

    fn smbus_read_byte(&mut self) -> Result<u8, BusError> {
        Ok(self.take(1)?[0])
    }

    fn smbus_read_byte_data(&mut self, _register: u8) -> Result<u8, BusError> {
        Ok(self.take(1)?[0])
    }

    fn smbus_read_word_data(&mut self, _register: u8) -> Result<u16, BusError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn smbus_write_byte_data(&mut self, _register: u8, _value: u8) -> Result<(), BusError> {
        Ok(())
    }

    fn delay(&mut self, duration: Duration) {
        self.waited += duration;
    }
}
