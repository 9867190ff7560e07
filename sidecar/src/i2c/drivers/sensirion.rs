//! The command protocol Sensirion's gas sensors (SCD4x, SCD30, SGP40) share: a
//! 16-bit command sent most significant byte first, optionally followed by
//! argument words, and answers of 16-bit words; every word on the wire, either
//! way, is followed by its CRC-8 (polynomial 0x31, init 0xFF; `crc`). A command
//! that answers is its own write transaction, then — after the command's
//! execution time, before which the chip would not acknowledge the read header
//! (SCD4x datasheet §3.3; SCD30 interface description §1.4.5) — a separate read.
//!
//! The chip drivers know their commands and timings; this module only frames.

use std::time::Duration;

use crate::i2c::bus::BusErrorKind;
use crate::i2c::chip::Chip;
use crate::i2c::crc::Crc8;
use crate::i2c::driver::checked_word;
use crate::i2c::error::{I2cReadError, ReadFailure};

/// The most argument words any command here sends (SGP40: humidity, temperature).
const MAX_ARGUMENTS: usize = 2;

/// Sends `command` with its argument words, each followed by its CRC.
pub(crate) fn send(
    chip: &mut Chip<'_>,
    command: u16,
    arguments: &[u16],
) -> Result<(), I2cReadError> {
    debug_assert!(arguments.len() <= MAX_ARGUMENTS);
    let mut bytes = Vec::with_capacity(2 + 3 * MAX_ARGUMENTS);
    bytes.extend_from_slice(&command.to_be_bytes());
    for argument in arguments {
        let word = argument.to_be_bytes();
        bytes.extend_from_slice(&word);
        bytes.push(Crc8::Sensirion.checksum(&word));
    }
    chip.write(&bytes)
}

/// Sends `command`, waits its `execution` time, then reads one word and its CRC
/// per name in `words`; a CRC mismatch names the word.
pub(crate) fn read_words<const N: usize>(
    chip: &mut Chip<'_>,
    command: u16,
    execution: Duration,
    words: [&str; N],
) -> Result<[u16; N], I2cReadError> {
    send(chip, command, &[])?;
    chip.wait(execution)?;
    receive_words(chip, words)
}

/// Reads one word and its CRC per name in `words` (the command already sent).
pub(crate) fn receive_words<const N: usize>(
    chip: &mut Chip<'_>,
    words: [&str; N],
) -> Result<[u16; N], I2cReadError> {
    let mut bytes = vec![0u8; 3 * N];
    chip.read(&mut bytes)?;
    let mut values = [0u16; N];
    for (index, (value, what)) in values.iter_mut().zip(words).enumerate() {
        *value = checked_word(
            chip,
            &bytes[3 * index..3 * index + 3],
            Crc8::Sensirion,
            what,
        )?;
    }
    Ok(values)
}

/// Whether a read failed because the device did not acknowledge.
pub(crate) fn is_nack(error: &I2cReadError) -> bool {
    matches!(&error.failure, ReadFailure::Bus(bus) if bus.kind() == BusErrorKind::Nack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{ScriptedBus, Step};

    #[test]
    fn arguments_carry_their_crc() {
        // SCD30 interface description §1.4.1: trigger continuous measurement
        // without pressure compensation is 0x0010 0x0000 0x81.
        let mut bus = ScriptedBus::new(vec![Step::Write(vec![0x00, 0x10, 0x00, 0x00, 0x81])]);
        let mut chip = Chip::new(&mut bus, 1, 0x61);
        send(&mut chip, 0x0010, &[0]).unwrap();
        bus.assert_finished();
    }

    #[test]
    fn words_are_checked_one_by_one() {
        let mut bus = ScriptedBus::new(vec![
            Step::Write(vec![0xE4, 0xB8]),
            Step::Read(vec![0xBE, 0xEF, 0x92, 0x80, 0x00, 0xA3]),
        ]);
        let mut chip = Chip::new(&mut bus, 1, 0x62);
        let error =
            read_words(&mut chip, 0xE4B8, Duration::from_millis(1), ["a", "b"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x62: checking the CRC of the b: CRC mismatch: \
             expected 0xa2 (computed from the data), received 0xa3"
        );
        assert_eq!(bus.waits, vec![Duration::from_millis(1)]);
    }
}
