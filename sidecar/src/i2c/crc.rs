//! The CRC-8 humidity sensors append to each 16-bit word: polynomial
//! x⁸ + x⁵ + x⁴ + 1 (0x31, "0x131" with the top bit), no reflection, no final XOR.
//! Sensirion (SHT3x, SHT4x) starts from 0xFF, TE and Silicon Labs (HTU21D, Si7021)
//! from 0x00.

/// Which CRC-8 a value carries after its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crc8 {
    /// Init 0xFF: SHT3x, SHT4x, SHTC3, SCD4x.
    Sensirion,
    /// Init 0x00: HTU21D, Si7021, SHT2x.
    Htu21d,
}

impl Crc8 {
    /// The names a sensor file uses (`crc8 = "sensirion"`).
    pub const NAMES: [(&'static str, Crc8); 2] =
        [("sensirion", Crc8::Sensirion), ("htu21d", Crc8::Htu21d)];

    pub fn checksum(self, data: &[u8]) -> u8 {
        const POLYNOMIAL: u8 = 0x31;
        let mut crc = match self {
            Crc8::Sensirion => 0xFF,
            Crc8::Htu21d => 0x00,
        };
        for &byte in data {
            crc ^= byte;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ POLYNOMIAL
                } else {
                    crc << 1
                };
            }
        }
        crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_the_datasheet_examples() {
        // SHT3x-DIS datasheet, table 19: CRC(0xBEEF) = 0x92.
        assert_eq!(Crc8::Sensirion.checksum(&[0xBE, 0xEF]), 0x92);
        // HTU21D datasheet, CRC examples: 0x00DC → 0x79, 0x683A → 0x7C, 0x4E85 → 0x6B.
        assert_eq!(Crc8::Htu21d.checksum(&[0x00, 0xDC]), 0x79);
        assert_eq!(Crc8::Htu21d.checksum(&[0x68, 0x3A]), 0x7C);
        assert_eq!(Crc8::Htu21d.checksum(&[0x4E, 0x85]), 0x6B);
        assert_eq!(Crc8::Sensirion.checksum(&[]), 0xFF);
    }
}
