//! The generic reader: what a script did with `i2cset`/`i2cget`/`i2ctransfer` and
//! shell arithmetic, described in the sensor file — an optional command write, a
//! delay, one read (SMBus byte or word, or N raw bytes), and values cut from the
//! bytes read: offset, width, byte order, mask, shift, sign, scale, add, CRC-8.

use std::time::Duration;

use edge_common::exposition::names::is_label_name;

use super::chip::Chip;
use super::crc::Crc8;
use super::driver::Driver;
use super::error::{I2cConfigError, I2cReadError, ReadFailure};
use super::toml_keys::Keys;

/// The longest `delay` a sensor file may ask for: conversions take milliseconds,
/// and the whole read must stay within [`super::chip::MAX_WAIT_PER_READ`].
const MAX_DELAY: Duration = Duration::from_secs(1);
/// The longest raw read; an SMBus block is 32 bytes, and no sensor here needs more.
const MAX_LENGTH: usize = 32;
const MAX_COMMAND: usize = 32;
const MAX_VALUES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindName {
    SmbusByte,
    SmbusWord,
    Bytes,
}

/// The one read transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// SMBus read byte data from `register`, or receive byte without one.
    SmbusByte { register: Option<u8> },
    /// SMBus read word data; its bytes in wire order (low byte first).
    SmbusWord { register: u8 },
    /// `length` raw bytes, after writing `register` (with a repeated start) if given.
    Bytes { register: Option<u8>, length: usize },
}

impl ReadKind {
    fn length(self) -> usize {
        match self {
            ReadKind::SmbusByte { .. } => 1,
            ReadKind::SmbusWord { .. } => 2,
            ReadKind::Bytes { length, .. } => length,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    Big,
    Little,
}

/// How one value is cut from the bytes read and scaled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueSpec {
    pub name: String,
    pub offset: usize,
    /// 1 to 4 bytes.
    pub width: usize,
    pub order: ByteOrder,
    /// Two's complement; the sign bit is the top bit of `mask >> shift`.
    pub signed: bool,
    pub shift: u32,
    pub mask: u32,
    pub scale: f64,
    pub add: f64,
    /// A CRC-8 in the byte after the value's bytes, over those bytes.
    pub crc: Option<Crc8>,
}

/// A sensor file's `[read]` and `[[value]]`s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenericRead {
    command: Option<Vec<u8>>,
    delay: Duration,
    kind: ReadKind,
    values: Vec<ValueSpec>,
}

impl GenericRead {
    pub fn parse(top: &mut Keys<'_, '_>) -> Result<Self, I2cConfigError> {
        let mut read = top.table("read")?.ok_or_else(|| {
            top.missing(
                "read",
                "a sensor file needs driver = \"…\" or a [read] table with [[value]]s",
            )
        })?;
        let command = read.bytes("command", 1..=MAX_COMMAND)?;
        let register = read.integer_in("register", 0..=0xFF)?.map(|r| r as u8);
        let delay = read.duration("delay", MAX_DELAY)?.unwrap_or(Duration::ZERO);
        let kind_name = read
            .choice(
                "kind",
                &[
                    ("smbus_byte", KindName::SmbusByte),
                    ("smbus_word", KindName::SmbusWord),
                    ("bytes", KindName::Bytes),
                ],
            )?
            .unwrap_or(KindName::Bytes);
        let length = read.integer_in("length", 1..=MAX_LENGTH as i64)?;
        let kind = match (kind_name, length) {
            (KindName::Bytes, Some(length)) => ReadKind::Bytes {
                register,
                length: length as usize,
            },
            (KindName::Bytes, None) => {
                return Err(read.missing("length", "how many bytes kind = \"bytes\" reads"))
            }
            (_, Some(_)) => {
                return Err(read.error(
                    "length",
                    "only with kind = \"bytes\" (an SMBus byte is 1 byte, a word 2)",
                ))
            }
            (KindName::SmbusByte, None) => ReadKind::SmbusByte { register },
            (KindName::SmbusWord, None) => ReadKind::SmbusWord {
                register: register.ok_or_else(|| {
                    read.missing("register", "kind = \"smbus_word\" reads from a register")
                })?,
            },
        };
        read.finish()?;

        let tables = top
            .tables("value")?
            .ok_or_else(|| top.missing("value", "at least one [[value]] to report"))?;
        if tables.is_empty() || tables.len() > MAX_VALUES {
            return Err(top.error("value", format!("must have 1 to {MAX_VALUES} entries")));
        }
        let mut values: Vec<ValueSpec> = Vec::with_capacity(tables.len());
        for mut table in tables {
            let value = ValueSpec::parse(&mut table, kind)?;
            if values.iter().any(|v| v.name == value.name) {
                return Err(table.error("name", format!("{:?} is used twice", value.name)));
            }
            table.finish()?;
            values.push(value);
        }
        Ok(GenericRead {
            command,
            delay,
            kind,
            values,
        })
    }
}

impl ValueSpec {
    fn parse(table: &mut Keys<'_, '_>, kind: ReadKind) -> Result<Self, I2cConfigError> {
        let length = kind.length();
        let name = table
            .string("name")?
            .ok_or_else(|| table.missing("name", "the metric-name suffix of this value"))?;
        if !is_label_name(name) {
            return Err(table.error(
                "name",
                format!("{name:?} is not a metric name ([a-zA-Z_][a-zA-Z0-9_]*)"),
            ));
        }
        let offset = table
            .integer_in("offset", 0..=length as i64 - 1)?
            .unwrap_or(0) as usize;
        let width = match (table.integer_in("width", 1..=4)?, kind) {
            (Some(width), _) => width as usize,
            (None, ReadKind::SmbusByte { .. }) => 1,
            (None, ReadKind::SmbusWord { .. }) => 2,
            (None, ReadKind::Bytes { .. }) => {
                return Err(table.missing("width", "1 to 4 bytes with kind = \"bytes\""))
            }
        };
        // An SMBus word is defined low byte first, as i2cget shows it; sensors
        // sending raw bytes mostly send the high byte first.
        let default_order = match kind {
            ReadKind::SmbusWord { .. } => ByteOrder::Little,
            _ => ByteOrder::Big,
        };
        let order = table
            .choice(
                "byte_order",
                &[("big", ByteOrder::Big), ("little", ByteOrder::Little)],
            )?
            .unwrap_or(default_order);
        let signed = table.boolean("signed")?.unwrap_or(false);
        let bits = width as u32 * 8;
        let shift = table
            .integer_in("shift", 0..=i64::from(bits) - 1)?
            .unwrap_or(0) as u32;
        let all_ones = u32::MAX >> (32 - bits);
        let mask = table
            .integer_in("mask", 1..=i64::from(all_ones))?
            .map_or(all_ones, |m| m as u32);
        if mask >> shift == 0 {
            return Err(table.error("shift", format!("shifts every bit of mask {mask:#x} out")));
        }
        let scale = table.float("scale")?.unwrap_or(1.0);
        let add = table.float("add")?.unwrap_or(0.0);
        let crc = table.choice("crc8", &Crc8::NAMES)?;
        if offset + width > length {
            let key = if table.has("offset") {
                "offset"
            } else {
                "width"
            };
            return Err(table.error(
                key,
                format!(
                    "bytes {offset}..{} are past the {length} bytes read",
                    offset + width
                ),
            ));
        }
        if crc.is_some() && offset + width == length {
            return Err(table.error(
                "crc8",
                format!("the CRC byte would be byte {length}, past the {length} bytes read"),
            ));
        }
        Ok(ValueSpec {
            name: name.to_string(),
            offset,
            width,
            order,
            signed,
            shift,
            mask,
            scale,
            add,
            crc,
        })
    }

    /// The value in `bytes` (the whole read), checking its CRC first.
    pub fn decode(&self, bytes: &[u8]) -> Result<f64, ReadFailure> {
        let end = self.offset + self.width;
        let short = || ReadFailure::Device(format!("only {} bytes read", bytes.len()));
        let field = bytes.get(self.offset..end).ok_or_else(short)?;
        if let Some(crc) = self.crc {
            let actual = *bytes.get(end).ok_or_else(short)?;
            let expected = crc.checksum(field);
            if expected != actual {
                return Err(ReadFailure::Crc { expected, actual });
            }
        }
        let raw = match self.order {
            ByteOrder::Big => field.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)),
            ByteOrder::Little => field
                .iter()
                .rev()
                .fold(0u32, |acc, &b| acc << 8 | u32::from(b)),
        };
        let field_mask = self.mask >> self.shift;
        let bits = 32 - field_mask.leading_zeros();
        let unsigned = (raw & self.mask) >> self.shift;
        let number = if self.signed && unsigned >> (bits - 1) & 1 == 1 {
            i64::from(unsigned) - (1i64 << bits)
        } else {
            i64::from(unsigned)
        };
        Ok(number as f64 * self.scale + self.add)
    }
}

impl Driver for GenericRead {
    fn values(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|v| (v.name.clone(), v.name.clone()))
            .collect()
    }

    fn read(&self, chip: &mut Chip<'_>) -> Result<Vec<f64>, I2cReadError> {
        if let Some(command) = &self.command {
            chip.write(command)?;
        }
        if !self.delay.is_zero() {
            chip.wait(self.delay)?;
        }
        let bytes = match self.kind {
            ReadKind::SmbusByte {
                register: Some(register),
            } => vec![chip.smbus_read_byte_data(register)?],
            ReadKind::SmbusByte { register: None } => vec![chip.smbus_read_byte()?],
            ReadKind::SmbusWord { register } => {
                chip.smbus_read_word_data(register)?.to_le_bytes().to_vec()
            }
            ReadKind::Bytes { register, length } => {
                let mut buf = vec![0u8; length];
                match register {
                    Some(register) => chip.read_register(register, &mut buf)?,
                    None => chip.read(&mut buf)?,
                }
                buf
            }
        };
        self.values
            .iter()
            .map(|value| {
                value
                    .decode(&bytes)
                    .map_err(|failure| chip.error(format!("decoding {:?}", value.name), failure))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2c::fake::{RegisterMapBus, ScriptedBus, Step};
    use crate::i2c::I2cSource;

    fn spec(width: usize, order: ByteOrder) -> ValueSpec {
        ValueSpec {
            name: "v".into(),
            offset: 0,
            width,
            order,
            signed: false,
            shift: 0,
            mask: u32::MAX >> (32 - width * 8),
            scale: 1.0,
            add: 0.0,
            crc: None,
        }
    }

    #[test]
    fn decodes_widths_and_byte_orders() {
        let bytes = [0x12, 0x34, 0x56, 0x78];
        assert_eq!(spec(1, ByteOrder::Big).decode(&bytes), Ok(18.0));
        assert_eq!(spec(2, ByteOrder::Big).decode(&bytes), Ok(4660.0));
        assert_eq!(spec(2, ByteOrder::Little).decode(&bytes), Ok(13330.0));
        assert_eq!(spec(3, ByteOrder::Big).decode(&bytes), Ok(1_193_046.0));
        assert_eq!(spec(3, ByteOrder::Little).decode(&bytes), Ok(5_649_426.0));
        assert_eq!(spec(4, ByteOrder::Big).decode(&bytes), Ok(305_419_896.0));
        assert_eq!(
            spec(4, ByteOrder::Little).decode(&bytes),
            Ok(2_018_915_346.0)
        );
        let offset = ValueSpec {
            offset: 2,
            ..spec(2, ByteOrder::Big)
        };
        assert_eq!(offset.decode(&bytes), Ok(22136.0));
    }

    #[test]
    fn sign_bit_is_the_top_bit_of_the_shifted_mask() {
        // TMP102, 12-bit two's complement in the top of two bytes (datasheet table 5).
        let tmp102 = ValueSpec {
            signed: true,
            shift: 4,
            scale: 0.0625,
            ..spec(2, ByteOrder::Big)
        };
        assert_eq!(tmp102.decode(&[0x19, 0x00]), Ok(25.0));
        assert_eq!(tmp102.decode(&[0xE7, 0x00]), Ok(-25.0));
        assert_eq!(tmp102.decode(&[0xFF, 0xF0]), Ok(-0.0625));
        assert_eq!(tmp102.decode(&[0x7F, 0xF0]), Ok(127.9375));
        // A 10-bit signed field under flag bits.
        let low = ValueSpec {
            signed: true,
            mask: 0x03FF,
            ..spec(2, ByteOrder::Big)
        };
        assert_eq!(low.decode(&[0xFE, 0x00]), Ok(-512.0));
        assert_eq!(low.decode(&[0xFD, 0xFF]), Ok(511.0));
        let full = ValueSpec {
            signed: true,
            ..spec(4, ByteOrder::Big)
        };
        assert_eq!(full.decode(&[0xFF, 0xFF, 0xFF, 0xFE]), Ok(-2.0));
        let unsigned = ValueSpec {
            mask: 0xFFFC,
            scale: 2.0,
            add: -1.5,
            ..spec(2, ByteOrder::Big)
        };
        assert_eq!(unsigned.decode(&[0x68, 0x3A]), Ok(26680.0 * 2.0 - 1.5));
    }

    #[test]
    fn crc_is_checked_over_the_value_bytes() {
        let sensirion = ValueSpec {
            crc: Some(Crc8::Sensirion),
            ..spec(2, ByteOrder::Big)
        };
        assert_eq!(sensirion.decode(&[0xBE, 0xEF, 0x92]), Ok(48879.0));
        assert_eq!(
            sensirion.decode(&[0xBE, 0xEF, 0x93]),
            Err(ReadFailure::Crc {
                expected: 0x92,
                actual: 0x93
            })
        );
        assert_eq!(
            sensirion.decode(&[0xBE, 0xEF]),
            Err(ReadFailure::Device("only 2 bytes read".into()))
        );
    }

    const TMP102: &str = r#"
bus = 1
address = 0x48
[read]
register = 0x00
length = 2
[[value]]
name = "temperature_celsius"
width = 2
signed = true
shift = 4
scale = 0.0625
"#;

    #[test]
    fn reads_a_register_through_the_mock_device() {
        let source = I2cSource::from_toml(TMP102, "tmp102.toml").unwrap();
        let mut bus = RegisterMapBus::with_registers(&[(0x00, &[0xE7, 0x00])]);
        let values = source.read_with(&mut bus).unwrap();
        assert_eq!(values, vec![("temperature_celsius".to_string(), -25.0)]);
        assert_eq!(bus.selected, Some((0x48, false)));
    }

    #[test]
    fn reads_smbus_bytes_and_words_through_the_mock_device() {
        let text = r#"
bus = 0
address = 0x20
force = true
[read]
kind = "smbus_word"
register = 0x10
[[value]]
name = "word"
[[value]]
name = "high_byte"
offset = 1
width = 1
"#;
        let source = I2cSource::from_toml(text, "word.toml").unwrap();
        let mut bus = RegisterMapBus::with_registers(&[(0x10, &[0x34, 0x12])]);
        let values = source.read_with(&mut bus).unwrap();
        assert_eq!(
            values,
            vec![
                ("word".to_string(), 4660.0),
                ("high_byte".to_string(), 18.0)
            ]
        );
        assert_eq!(bus.selected, Some((0x20, true)));

        let byte = "bus = 0\naddress = 0x20\n[read]\nkind = \"smbus_byte\"\nregister = 0x11\n\
                    [[value]]\nname = \"b\"\nscale = 0.5\n";
        let source = I2cSource::from_toml(byte, "byte.toml").unwrap();
        assert_eq!(source.read_with(&mut bus).unwrap(), vec![("b".into(), 9.0)]);

        // Without a register: SMBus receive byte, from where the last read left
        // the pointer (0x11).
        let receive = "bus = 0\naddress = 0x20\n[read]\nkind = \"smbus_byte\"\n\
                       [[value]]\nname = \"b\"\n";
        let source = I2cSource::from_toml(receive, "receive.toml").unwrap();
        assert_eq!(
            source.read_with(&mut bus).unwrap(),
            vec![("b".into(), 18.0)]
        );
    }

    #[test]
    fn uses_the_smbus_transaction_the_kind_names() {
        let file = |read: &str| {
            let text = format!("bus = 1\naddress = 0x4f\n[read]\n{read}[[value]]\nname = \"v\"\n");
            I2cSource::from_toml(&text, "smbus.toml").unwrap()
        };
        let word = file("kind = \"smbus_word\"\nregister = 0x00\n");
        // LM75 at 25 °C sends 0x19 0x00; SMBus makes that the word 0x0019.
        let mut bus = ScriptedBus::at(0x4f, vec![Step::SmbusReadWordData(0x00, 0x0019)]);
        assert_eq!(word.read_with(&mut bus).unwrap(), vec![("v".into(), 25.0)]);
        bus.assert_finished();

        let byte = file("kind = \"smbus_byte\"\nregister = 0x07\n");
        let mut bus = ScriptedBus::at(0x4f, vec![Step::SmbusReadByteData(0x07, 0xA5)]);
        assert_eq!(byte.read_with(&mut bus).unwrap(), vec![("v".into(), 165.0)]);

        let receive = file("kind = \"smbus_byte\"\ncommand = [0x03]\n");
        let mut bus = ScriptedBus::at(
            0x4f,
            vec![Step::Write(vec![0x03]), Step::SmbusReadByte(0x5A)],
        );
        assert_eq!(
            receive.read_with(&mut bus).unwrap(),
            vec![("v".into(), 90.0)]
        );
        bus.assert_finished();

        let mut bus = ScriptedBus::at(0x4f, vec![Step::Fail(libc::EREMOTEIO)]);
        let error = word.read_with(&mut bus).unwrap_err();
        assert_eq!(error.operation, "SMBus read word from register 0x00");
    }

    #[test]
    fn writes_the_command_waits_and_checks_crcs() {
        // The SHT3x single-shot read, described generically: the same values as the
        // driver, from SHT3x datasheet words (0x6666 → 25 °C, 0x9999 → 60 %).
        let text = r#"
bus = 1
address = 0x44
[read]
command = [0x24, 0x00]
delay = "16ms"
length = 6
[[value]]
name = "temperature_celsius"
width = 2
crc8 = "sensirion"
scale = 0.0026703288319218738   # 175 / 65535
add = -45
[[value]]
name = "humidity_percent"
offset = 3
width = 2
crc8 = "sensirion"
scale = 0.0015259021896696422   # 100 / 65535
"#;
        let source = I2cSource::from_toml(text, "sht31-generic.toml").unwrap();
        let mut bus = ScriptedBus::at(
            0x44,
            vec![
                Step::Write(vec![0x24, 0x00]),
                Step::Read(vec![0x66, 0x66, 0x93, 0x99, 0x99, 0xBE]),
            ],
        );
        let values = source.read_with(&mut bus).unwrap();
        bus.assert_finished();
        assert_eq!(bus.waits, vec![Duration::from_millis(16)]);
        assert!((values[0].1 - 25.0).abs() < 1e-9, "{values:?}");
        assert!((values[1].1 - 60.0).abs() < 1e-9, "{values:?}");

        let mut bus = ScriptedBus::at(
            0x44,
            vec![
                Step::Write(vec![0x24, 0x00]),
                Step::Read(vec![0x66, 0x66, 0x93, 0x99, 0x99, 0xBF]),
            ],
        );
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x44: decoding \"humidity_percent\": CRC mismatch: \
             expected 0xbe (computed from the data), received 0xbf"
        );
    }

    #[test]
    fn a_nack_fails_the_read() {
        let source = I2cSource::from_toml(TMP102, "tmp102.toml").unwrap();
        let mut bus = ScriptedBus::at(0x48, vec![Step::Fail(libc::ENXIO)]);
        let error = source.read_with(&mut bus).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x48: reading 2 bytes from register 0x00: ENXIO: No such device or \
             address (no acknowledge: no device at this address, or it is still busy)"
        );
    }
}
