//! The one-line error a program prints for a flag value it cannot run with
//! (`<program>: error: --flag: why`, exit code 2).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub flag: &'static str,
    pub message: String,
}

impl FlagError {
    pub fn new(flag: &'static str, message: impl ToString) -> Self {
        FlagError {
            flag,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for FlagError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_flag() {
        assert_eq!(
            FlagError::new("timeout", "must be longer than 0").to_string(),
            "--timeout: must be longer than 0"
        );
    }
}
