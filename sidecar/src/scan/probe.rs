//! Which addresses of a bus answer, the way `i2cdetect -y -r` finds out: for each
//! address 0x03..0x77, select it (EBUSY: a kernel driver holds it, `UU`, and it is
//! left alone), then one SMBus receive byte; an acknowledged read is a device, which
//! `identify` then looks at while it is still selected. Also which buses there are:
//! the `i2c-N` entries of the device directory.
//!
//! Not `i2cdetect`'s default probe: that sends an SMBus quick write to most
//! addresses, which some chips take as a command (it can corrupt the AT24RF08
//! EEPROM's protection bits). A read can be refused by chips that only answer after a
//! command — an idle SHT3x or HTU21D may NACK it and not be listed; the scan
//! accepts missing those over writing to unknown devices.
//!
//! A probe that fails other than with a NACK (a timeout: a device holding the bus)
//! is listed; after [`MAX_FAILED_PROBES`] of them the bus is given up, since each
//! can cost the adapter's whole timeout.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use nix::errno::Errno;

use super::identify::{identify, Identity};
use crate::i2c::{BusError, BusErrorKind, I2cBus};

/// The first and last 7-bit addresses probed; the others are reserved (general
/// call, CBUS, 10-bit addressing, high-speed mode), as in `i2cdetect`.
pub const FIRST_ADDRESS: u16 = 0x03;
pub const LAST_ADDRESS: u16 = 0x77;

/// Failed probes (not NACKs) after which a bus is given up.
pub const MAX_FAILED_PROBES: usize = 4;

/// Most buses scanned when none is named (`--bus`): the lowest numbers.
pub const MAX_BUSES: usize = 64;

/// What one address turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// EBUSY: a kernel driver holds it; not probed.
    Held,
    /// The read was acknowledged.
    Answered(Identity),
    /// The read failed, but not with a NACK.
    Failed(BusError),
}

/// An address where there is something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub address: u16,
    pub presence: Presence,
}

/// Why a bus was not scanned to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusFailure {
    /// It cannot be opened or an address cannot be selected (ENOENT, EACCES).
    #[error("{0}")]
    Unusable(BusError),
    #[error(
        "given up after {MAX_FAILED_PROBES} failed probes, the last at {address:#04x}: {error}"
    )]
    TooManyFailures { address: u16, error: BusError },
}

/// One bus's scan: what was found, and why it stopped early if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusScan {
    pub bus: u32,
    pub found: Vec<Found>,
    pub failure: Option<BusFailure>,
}

/// Probes every address of `bus` (the N of i2c-N) and identifies what answers.
pub fn scan_bus(number: u32, bus: &mut dyn I2cBus) -> BusScan {
    let mut scan = BusScan {
        bus: number,
        found: Vec::new(),
        failure: None,
    };
    let mut failed = 0;
    for address in FIRST_ADDRESS..=LAST_ADDRESS {
        if let Err(error) = bus.set_address(address, false) {
            if error.kind() == BusErrorKind::Busy {
                scan.found.push(Found {
                    address,
                    presence: Presence::Held,
                });
                continue;
            }
            scan.failure = Some(BusFailure::Unusable(error));
            return scan;
        }
        let presence = match bus.smbus_read_byte() {
            Ok(_) => Presence::Answered(identify(bus, address)),
            Err(error) if is_no_device(&error) => continue,
            Err(error) => {
                failed += 1;
                if failed == MAX_FAILED_PROBES {
                    scan.failure = Some(BusFailure::TooManyFailures { address, error });
                    return scan;
                }
                Presence::Failed(error)
            }
        };
        scan.found.push(Found { address, presence });
    }
    scan
}

/// A NACK: ENXIO or EREMOTEIO, or EIO, which some (USB) adapters return for one.
fn is_no_device(error: &BusError) -> bool {
    error.kind() == BusErrorKind::Nack || error.errno() == Some(Errno::EIO as i32)
}

/// The buses under `dev_root`: the N of its `i2c-N` entries, lowest first, at most
/// [`MAX_BUSES`]; and how many more there were.
pub fn bus_numbers(dev_root: &Path) -> io::Result<(Vec<u32>, usize)> {
    let mut numbers = BTreeSet::new();
    let mut more = 0;
    for entry in std::fs::read_dir(dev_root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|name| name.strip_prefix("i2c-"))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u32>().ok())
        else {
            continue;
        };
        numbers.insert(number);
        if numbers.len() > MAX_BUSES {
            numbers.pop_last();
            more += 1;
        }
    }
    Ok((numbers.into_iter().collect(), more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buses_are_the_i2c_n_entries_in_number_order() {
        let dev = tempfile::tempdir().unwrap();
        for name in [
            "i2c-10",
            "i2c-1",
            "i2c-3",
            "i2c-",
            "i2c-x1",
            "i2c-1a",
            "tty0",
            "spidev0.0",
        ] {
            std::fs::write(dev.path().join(name), "").unwrap();
        }
        assert_eq!(bus_numbers(dev.path()).unwrap(), (vec![1, 3, 10], 0));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(bus_numbers(empty.path()).unwrap(), (vec![], 0));
        assert!(bus_numbers(&dev.path().join("missing")).is_err());
    }

    #[test]
    fn at_most_max_buses_are_kept_the_lowest() {
        let dev = tempfile::tempdir().unwrap();
        for n in 0..MAX_BUSES + 3 {
            std::fs::write(dev.path().join(format!("i2c-{n}")), "").unwrap();
        }
        let (numbers, more) = bus_numbers(dev.path()).unwrap();
        assert_eq!(numbers, (0..MAX_BUSES as u32).collect::<Vec<_>>());
        assert_eq!(more, 3);
    }
}
