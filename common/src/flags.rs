//! What the programs' command lines share: the one-line error a program prints for a
//! flag value it cannot run with (`<program>: error: --flag: why`, exit code 2), and
//! `--log.level`, spelled and accepted as node_exporter's.

use std::fmt;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgMatches};

/// The flag's id and long name.
pub const LOG_LEVEL: &str = "log.level";

/// `--log.level debug|info|warn|error` (default info), each parsed by tracing itself.
pub fn log_level_arg() -> Arg {
    Arg::new(LOG_LEVEL)
        .long(LOG_LEVEL)
        .default_value("info")
        .value_parser(
            PossibleValuesParser::new(["debug", "info", "warn", "error"])
                .try_map(|level| level.parse::<tracing::Level>()),
        )
        .help("Only log messages with the given severity or above.")
}

/// The level [`log_level_arg`] parsed (info when the command has no such flag).
pub fn log_level(matches: &ArgMatches) -> tracing::Level {
    matches
        .try_get_one::<tracing::Level>(LOG_LEVEL)
        .ok()
        .flatten()
        .copied()
        .unwrap_or(tracing::Level::INFO)
}

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
    fn log_levels_are_tracings() {
        let command = clap::Command::new("t").arg(log_level_arg());
        let level = |args: &[&str]| {
            command
                .clone()
                .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
                .map(|m| log_level(&m))
        };
        assert_eq!(level(&[]).ok(), Some(tracing::Level::INFO));
        assert_eq!(
            level(&["--log.level=debug"]).ok(),
            Some(tracing::Level::DEBUG)
        );
        assert_eq!(
            level(&["--log.level", "error"]).ok(),
            Some(tracing::Level::ERROR)
        );
        for bad in ["trace", "5", "INFO", ""] {
            assert!(level(&[&format!("--log.level={bad}")]).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_the_flag() {
        assert_eq!(
            FlagError::new("timeout", "must be longer than 0").to_string(),
            "--timeout: must be longer than 0"
        );
    }
}
