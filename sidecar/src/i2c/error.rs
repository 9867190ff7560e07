//! Errors of sensor files and of reads. Each names the place: the file, line and
//! key of a bad setting; the bus, address and operation of a failed read.

use std::fmt;

use super::bus::BusError;

/// A sensor file the sidecar cannot use: `file:line: key: message`, the parts that
/// are known (a syntax error has no key, a missing key has only its table's line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct I2cConfigError {
    /// The file (its path, or what `from_toml` was told it is).
    pub origin: String,
    /// 1-based line of the key, or of its table when the key is missing.
    pub line: Option<usize>,
    /// The key as a path: `address`, `read.delay`, `value[1].width`.
    pub key: Option<String>,
    pub message: String,
}

impl I2cConfigError {
    pub(crate) fn new(
        origin: &str,
        line: Option<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        I2cConfigError {
            origin: origin.to_string(),
            line,
            key,
            message: message.into(),
        }
    }

    fn render(&self) -> String {
        let mut out = self.origin.clone();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        if let Some(key) = &self.key {
            out.push_str(&format!(": {key}"));
        }
        out.push_str(&format!(": {}", self.message));
        out
    }
}

/// A read that produced no values: `i2c-1 address 0x44: reading 6 bytes: …`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("i2c-{bus} address {address:#04x}: {operation}: {failure}")]
pub struct I2cReadError {
    pub bus: u32,
    pub address: u16,
    /// What was being done: `writing 0x24 0x00`, `reading register 0x02`, …
    pub operation: String,
    pub failure: ReadFailure,
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadFailure {
    /// The bus or the device refused: EBUSY, a NACK (ENXIO/EREMOTEIO), a timeout.
    Bus(BusError),
    /// The checksum the device sent does not match its data: a disturbed transfer.
    Crc { expected: u8, actual: u8 },
    /// The device answered, but not as the chip should (wrong chip id, a conversion
    /// that never finished, an overflow flag).
    Device(String),
}

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFailure::Bus(error) => error.fmt(f),
            ReadFailure::Crc { expected, actual } => write!(
                f,
                "CRC mismatch: expected {expected:#04x} (computed from the data), received {actual:#04x}"
            ),
            ReadFailure::Device(message) => f.write_str(message),
        }
    }
}

impl From<BusError> for ReadFailure {
    fn from(error: BusError) -> Self {
        ReadFailure::Bus(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_render_the_known_parts() {
        let full = I2cConfigError::new("sht.toml", Some(3), Some("value[0].width".into()), "bad");
        assert_eq!(full.to_string(), "sht.toml:3: value[0].width: bad");
        let no_line = I2cConfigError::new("sht.toml", None, Some("bus".into()), "missing");
        assert_eq!(no_line.to_string(), "sht.toml: bus: missing");
        let syntax = I2cConfigError::new("sht.toml", Some(7), None, "invalid key");
        assert_eq!(syntax.to_string(), "sht.toml:7: invalid key");
    }

    #[test]
    fn read_errors_name_bus_address_and_operation() {
        let error = I2cReadError {
            bus: 1,
            address: 0x44,
            operation: "checking the CRC of the temperature".into(),
            failure: ReadFailure::Crc {
                expected: 0x92,
                actual: 0x91,
            },
        };
        assert_eq!(
            error.to_string(),
            "i2c-1 address 0x44: checking the CRC of the temperature: CRC mismatch: \
             expected 0x92 (computed from the data), received 0x91"
        );
    }
}
