//! What a device that answered the probe is: [`KNOWN_CHIPS`], the one table of the
//! chips `scan` knows, the addresses each can have and how it is recognised, and
//! [`identify`], which reads a device's id registers against it.
//!
//! Only reads. A register read is a pointer write followed by a read (SMBus read
//! byte/word data, as `i2cget ADDR REG b|w` does, so SMBus-only adapters work too);
//! no register is ever written. The registers and values are the datasheets'
//! register maps: Bosch BMP280/BME280/BME680 and BMP180 `id`/`chip_id` at 0xD0,
//! BMP388/BMP390 `CHIP_ID` at 0x00; TI manufacturer id 0xFE = 0x5449 ("TI") and die
//! or device id 0xFF (INA226, INA3221, HDC1080); Microchip MCP9808 manufacturer id
//! 0x06 = 0x0054 and device id 0x07 = 0x04 in its upper byte (the lower byte is the
//! revision); the INA219 and ADS1115 configuration registers' reset values.
//!
//! Surprising, and why the table is ordered as it is:
//! - 0x60 is both the BME280's `chip_id` (at 0xD0) and the BMP390's (at 0x00): the
//!   register read decides, 0xD0 first.
//! - The pointer byte of a register read is a command to command-driven chips. At
//!   0x40 an HTU21D/Si7021 takes 0xFE as "soft reset", so the TI manufacturer id
//!   (0xFE) is read only after the die id (0xFF, no command of any chip that lives
//!   there) matched: a device that answered 0xFF with a TI die id is not an
//!   HTU21D. The test `no_first_read_is_a_command_of_a_chip_at_that_address` keeps
//!   every first read off the one-byte commands of the chips listed by address.
//! - INA219 and ADS1115 have no id register: a configuration register at its
//!   power-on value says "maybe", nothing more (it is gone once a driver configured
//!   the chip, and another chip may hold the same number).
//! - Sensirion chips (SHT3x, SHT4x, SCD30, SCD4x, SGP40), the HTU21D/Si7021 and the
//!   BH1750 are identified only by a command write: they are listed by address
//!   ("possibly") and never sent a command. Where their addresses overlap others'
//!   (0x40, 0x44–0x46 are INA2xx addresses too) they do get those chips' first
//!   register reads, whose pointer bytes are none of their commands.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use crate::i2c::I2cBus;

/// How a register is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// SMBus read byte data.
    Byte,
    /// SMBus read word data, the chip sending its most significant byte first (as
    /// every 16-bit chip here does, unlike SMBus's own order).
    WordBigEndian,
}

/// One register read and the value, under `mask`, that the chip holds there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterCheck {
    /// What the register is, for the report: `chip id`, `die id`.
    pub what: &'static str,
    pub register: u8,
    pub width: Width,
    pub mask: u16,
    pub value: u16,
}

impl RegisterCheck {
    const fn byte(what: &'static str, register: u8, value: u8) -> Self {
        RegisterCheck {
            what,
            register,
            width: Width::Byte,
            mask: 0xFF,
            value: value as u16,
        }
    }

    const fn word(what: &'static str, register: u8, mask: u16, value: u16) -> Self {
        RegisterCheck {
            what,
            register,
            width: Width::WordBigEndian,
            mask,
            value,
        }
    }

    /// `chip id 0xD0 = 0x60`, with the value read.
    fn describe(&self, read: u16) -> String {
        match self.width {
            Width::Byte => format!("{} 0x{:02X} = 0x{read:02X}", self.what, self.register),
            Width::WordBigEndian => {
                format!("{} 0x{:02X} = 0x{read:04X}", self.what, self.register)
            }
        }
    }
}

/// How a known chip is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Id registers, read in order, each only if the ones before matched.
    IdRegisters(&'static [RegisterCheck]),
    /// No id register: a register at its power-on value makes it a "maybe".
    PowerOnValue(RegisterCheck),
    /// Only a command write would tell, which the scan never sends: listed by
    /// address. `one_byte_commands` are the bytes the chip takes as a command on
    /// their own — no register read at its addresses may start with one of them.
    AddressOnly { one_byte_commands: &'static [u8] },
}

/// A chip the scan knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownChip {
    pub name: &'static str,
    /// The addresses its address pins allow.
    pub addresses: &'static [RangeInclusive<u16>],
    pub evidence: Evidence,
    /// The sidecar driver that reads it (`driver = "…"` in a sensor file).
    pub driver: Option<&'static str>,
}

impl KnownChip {
    pub fn lives_at(&self, address: u16) -> bool {
        self.addresses.iter().any(|range| range.contains(&address))
    }
}

const BOSCH: &[RangeInclusive<u16>] = &[0x76..=0x77];
const TI_INA: &[RangeInclusive<u16>] = &[0x40..=0x4F];
const TI_MANUFACTURER: RegisterCheck = RegisterCheck::word("manufacturer id", 0xFE, 0xFFFF, 0x5449);

/// Every chip the scan knows, in the order they are tried at an address.
pub const KNOWN_CHIPS: &[KnownChip] = &[
    // Bosch: chip_id at 0xD0 first, then the BMP3xx's CHIP_ID at 0x00.
    KnownChip {
        name: "BME280",
        addresses: BOSCH,
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0xD0, 0x60)]),
        driver: Some("bme280"),
    },
    KnownChip {
        name: "BMP280",
        addresses: BOSCH,
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0xD0, 0x58)]),
        driver: Some("bmp280"),
    },
    KnownChip {
        name: "BME680",
        addresses: BOSCH,
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0xD0, 0x61)]),
        driver: None,
    },
    KnownChip {
        name: "BMP180",
        addresses: &[0x77..=0x77],
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0xD0, 0x55)]),
        driver: Some("bmp180"),
    },
    KnownChip {
        name: "BMP388",
        addresses: BOSCH,
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0x00, 0x50)]),
        driver: Some("bmp388"),
    },
    KnownChip {
        name: "BMP390",
        addresses: BOSCH,
        evidence: Evidence::IdRegisters(&[RegisterCheck::byte("chip id", 0x00, 0x60)]),
        driver: Some("bmp390"),
    },
    // TI: die id first (see the module doc), then the manufacturer id.
    KnownChip {
        name: "INA226",
        addresses: TI_INA,
        // Bits 3..0 are the die revision.
        evidence: Evidence::IdRegisters(&[
            RegisterCheck::word("die id", 0xFF, 0xFFF0, 0x2260),
            TI_MANUFACTURER,
        ]),
        driver: Some("ina226"),
    },
    KnownChip {
        name: "INA3221",
        addresses: &[0x40..=0x43],
        evidence: Evidence::IdRegisters(&[
            RegisterCheck::word("die id", 0xFF, 0xFFFF, 0x3220),
            TI_MANUFACTURER,
        ]),
        driver: Some("ina3221"),
    },
    KnownChip {
        name: "HDC1080",
        addresses: &[0x40..=0x40],
        evidence: Evidence::IdRegisters(&[
            RegisterCheck::word("device id", 0xFF, 0xFFFF, 0x1050),
            TI_MANUFACTURER,
        ]),
        driver: None,
    },
    KnownChip {
        name: "MCP9808",
        addresses: &[0x18..=0x1F],
        // The device id register's lower byte is the revision.
        evidence: Evidence::IdRegisters(&[
            RegisterCheck::word("manufacturer id", 0x06, 0xFFFF, 0x0054),
            RegisterCheck::word("device id", 0x07, 0xFF00, 0x0400),
        ]),
        driver: Some("mcp9808"),
    },
    // No id register.
    KnownChip {
        name: "INA219",
        addresses: TI_INA,
        evidence: Evidence::PowerOnValue(RegisterCheck::word(
            "configuration",
            0x00,
            0xFFFF,
            0x399F,
        )),
        driver: Some("ina219"),
    },
    KnownChip {
        // The ADS1015's configuration powers on with the same value.
        name: "ADS1115 (or ADS1015)",
        addresses: &[0x48..=0x4B],
        evidence: Evidence::PowerOnValue(RegisterCheck::word(
            "configuration",
            0x01,
            0xFFFF,
            0x8583,
        )),
        driver: Some("ads1115"),
    },
    // Identified only by a command: by address.
    KnownChip {
        name: "HTU21D/Si7021/SHT21",
        addresses: &[0x40..=0x40],
        evidence: Evidence::AddressOnly {
            // Measure (hold/no hold), user register, reset, Si7021 ids and heater.
            one_byte_commands: &[
                0xE0, 0xE3, 0xE5, 0xE6, 0xE7, 0xF3, 0xF5, 0xFE, 0xFA, 0xFC, 0x84, 0x51, 0x11,
            ],
        },
        driver: Some("htu21d"),
    },
    KnownChip {
        name: "SHT3x",
        addresses: &[0x44..=0x45],
        // Its commands are two bytes long.
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[],
        },
        driver: Some("sht3x"),
    },
    KnownChip {
        name: "SHT4x",
        addresses: &[0x44..=0x46],
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[
                0xFD, 0xF6, 0xE0, 0x89, 0x94, 0x39, 0x32, 0x2F, 0x24, 0x1E, 0x15,
            ],
        },
        driver: Some("sht4x"),
    },
    KnownChip {
        name: "SGP40",
        addresses: &[0x59..=0x59],
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[],
        },
        driver: Some("sgp40"),
    },
    KnownChip {
        name: "SCD30",
        addresses: &[0x61..=0x61],
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[],
        },
        driver: Some("scd30"),
    },
    KnownChip {
        name: "SCD4x",
        addresses: &[0x62..=0x62],
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[],
        },
        driver: Some("scd4x"),
    },
    KnownChip {
        name: "BH1750",
        addresses: &[0x23..=0x23, 0x5C..=0x5C],
        // Power down/on, reset, the measurement modes, and the measurement-time
        // opcodes 01000_MT[7,6,5] and 011_MT[4..0].
        evidence: Evidence::AddressOnly {
            one_byte_commands: &[
                0x00, 0x01, 0x07, 0x10, 0x11, 0x13, 0x20, 0x21, 0x23, 0x40, 0x41, 0x42, 0x43, 0x44,
                0x45, 0x46, 0x47, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
                0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
                0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F,
            ],
        },
        driver: Some("bh1750"),
    },
];

/// What a device that answered is, as far as reads can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Its id registers named it; `evidence` says which values: `chip id 0xD0 = 0x60`.
    Identified {
        chip: &'static KnownChip,
        evidence: String,
    },
    /// A register held the chip's power-on value; it has no id register to confirm.
    Maybe {
        chip: &'static KnownChip,
        evidence: String,
    },
    /// Not recognised; `possibly` are the chips that live at the address and are
    /// identified only by a command write.
    Unknown { possibly: Vec<&'static KnownChip> },
}

/// Identifies the device at `address`, which `bus` has selected and which answered
/// the probe. Reads only the registers the table names for this address, each at
/// most once; a register that cannot be read matches nothing.
pub fn identify(bus: &mut dyn I2cBus, address: u16) -> Identity {
    let here: Vec<&'static KnownChip> = KNOWN_CHIPS
        .iter()
        .filter(|chip| chip.lives_at(address))
        .collect();
    let mut registers = Registers {
        bus,
        read: HashMap::new(),
    };
    for &chip in &here {
        if let Evidence::IdRegisters(checks) = chip.evidence {
            if let Some(evidence) = registers.all_match(checks) {
                return Identity::Identified { chip, evidence };
            }
        }
    }
    for &chip in &here {
        if let Evidence::PowerOnValue(check) = chip.evidence {
            if let Some(evidence) = registers.all_match(&[check]) {
                return Identity::Maybe { chip, evidence };
            }
        }
    }
    Identity::Unknown {
        possibly: here
            .into_iter()
            .filter(|chip| matches!(chip.evidence, Evidence::AddressOnly { .. }))
            .collect(),
    }
}

/// The device's registers, each read once.
struct Registers<'b> {
    bus: &'b mut dyn I2cBus,
    /// `None` for a read that failed.
    read: HashMap<(u8, Width), Option<u16>>,
}

impl Registers<'_> {
    fn get(&mut self, register: u8, width: Width) -> Option<u16> {
        if let Some(value) = self.read.get(&(register, width)) {
            return *value;
        }
        let value = match width {
            Width::Byte => self.bus.smbus_read_byte_data(register).map(u16::from),
            Width::WordBigEndian => self.bus.smbus_read_word_data(register).map(u16::swap_bytes),
        }
        .ok();
        self.read.insert((register, width), value);
        value
    }

    /// The checks' descriptions if every one matches, reading no further than the
    /// first that does not.
    fn all_match(&mut self, checks: &[RegisterCheck]) -> Option<String> {
        let mut evidence = Vec::with_capacity(checks.len());
        for check in checks {
            let value = self.get(check.register, check.width)?;
            if value & check.mask != check.value {
                return None;
            }
            evidence.push(check.describe(value));
        }
        Some(evidence.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::probe::{FIRST_ADDRESS, LAST_ADDRESS};

    /// The registers read at `address` before anything is identified: the first
    /// check of each id-register chip, and each power-on check.
    fn first_reads(address: u16) -> Vec<u8> {
        KNOWN_CHIPS
            .iter()
            .filter(|chip| chip.lives_at(address))
            .filter_map(|chip| match chip.evidence {
                Evidence::IdRegisters(checks) => checks.first().map(|c| c.register),
                Evidence::PowerOnValue(check) => Some(check.register),
                Evidence::AddressOnly { .. } => None,
            })
            .collect()
    }

    fn is_command(chip: &KnownChip, byte: u8) -> bool {
        match chip.evidence {
            Evidence::AddressOnly { one_byte_commands } => one_byte_commands.contains(&byte),
            _ => false,
        }
    }

    #[test]
    fn no_first_read_is_a_command_of_a_chip_at_that_address() {
        for address in FIRST_ADDRESS..=LAST_ADDRESS {
            for register in first_reads(address) {
                for chip in KNOWN_CHIPS.iter().filter(|c| c.lives_at(address)) {
                    assert!(
                        !is_command(chip, register),
                        "{address:#04x}: reading {register:#04x} would command a {}",
                        chip.name
                    );
                }
            }
        }
        // The hazard the order avoids is real: 0xFE resets an HTU21D at 0x40.
        let htu21d = KNOWN_CHIPS.iter().find(|c| c.name.starts_with("HTU21D"));
        assert!(is_command(htu21d.unwrap(), 0xFE));
        assert_eq!(first_reads(0x40), [0xFF, 0xFF, 0xFF, 0x00]);
    }

    #[test]
    fn the_table_is_well_formed() {
        for (index, chip) in KNOWN_CHIPS.iter().enumerate() {
            assert!(
                KNOWN_CHIPS[..index].iter().all(|c| c.name != chip.name),
                "{} twice",
                chip.name
            );
            for range in chip.addresses {
                assert!(*range.start() >= FIRST_ADDRESS && *range.end() <= LAST_ADDRESS);
                assert!(range.start() <= range.end(), "{}", chip.name);
            }
            let checks: &[RegisterCheck] = match &chip.evidence {
                Evidence::IdRegisters(checks) => checks,
                Evidence::PowerOnValue(check) => std::slice::from_ref(check),
                Evidence::AddressOnly { .. } => &[],
            };
            for check in checks {
                assert_eq!(check.value & check.mask, check.value, "{}", chip.name);
                if check.width == Width::Byte {
                    assert_eq!(check.mask, 0xFF, "{}", chip.name);
                }
            }
        }
    }
}
