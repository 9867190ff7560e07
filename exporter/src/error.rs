//! Errors of collectors and of the exporter's configuration.

use std::io;
use std::path::{Path, PathBuf};

/// Why a collector produced nothing this scrape. Each variant names the place.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{context}: {source}")]
    System { context: String, source: io::Error },
    /// The source does not exist on this machine (no hwmon class on a VM): like
    /// node_exporter's ErrNoData, the collector reports success 0 and logs at debug.
    #[error("no data: {0}")]
    NoData(String),
}

impl CollectError {
    pub fn read(path: &Path, source: io::Error) -> Self {
        CollectError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        CollectError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// A flag value the exporter cannot run with; reported on one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    pub flag: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(flag: impl Into<String>, message: impl ToString) -> Self {
        ConfigError {
            flag: flag.into(),
            // Regex errors span several lines; a flag error must fit on one.
            message: message
                .to_string()
                .split('\n')
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}
