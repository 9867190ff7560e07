//! `edge-sidecar scan`: what is on this node's I2C buses, and the sensor files and
//! `nodes.conf` line that would read it — what users did by hand with `i2cdetect`.
//!
//! - `probe` — the buses under `--path.dev`, and which addresses answer a read
//!   (`i2cdetect -y -r`), addresses a kernel driver holds left alone.
//! - `identify` — the table of known chips and the id-register reads that tell
//!   them apart. Only reads: the scan never writes a register of any device.
//! - `report` — the listing, a sensor file per identified chip with a driver, the
//!   `nodes.conf` entries.
//!
//! Here: the run — scan, print, and with `--write DIR` write the files atomically
//! (`writer::write_atomic`), refusing to replace one unless `--force`.
//!
//! The report is a list of sections: the I2C buses, then the IIO devices and 1-Wire
//! thermometers under `--path.sysfs` (listed by `sysfs_sensors`, only read).
//!
//! Exit status (`main`): 0 every bus found was scanned (none found is 0 too), 1 a bus
//! could not be scanned to the end or the files not written, 2 bad flags.

mod identify;
mod probe;
mod report;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::i2c::{I2cBus, LinuxBus};
use crate::sysfs_sensors::{IioDevice, W1Probes};
use crate::writer::{write_atomic, WriteError};

use probe::{bus_numbers, scan_bus, BusScan};
use report::{Report, SensorFile};

/// What `scan`'s flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSettings {
    /// Where the `i2c-N` devices are (`--path.dev`).
    pub dev_root: PathBuf,
    /// The root of the IIO and 1-Wire listings (`--path.sysfs`).
    pub sysfs_root: PathBuf,
    /// Only these buses (`--bus`); all found when empty.
    pub buses: Vec<u32>,
    /// This node's name in `nodes.conf` (`--node`).
    pub node: String,
    /// Write the sensor files here (`--write`).
    pub write_dir: Option<PathBuf>,
    /// Replace existing files (`--force`).
    pub force: bool,
}

/// Why `scan` could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("listing {}: {source}", dir.display())]
    ListBuses {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exists (--force replaces it); no file written", path.display())]
    Exists { path: PathBuf },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("printing: {0}")]
    Print(#[from] io::Error),
}

/// Scans the buses under `--path.dev` through the Linux bus device and prints the
/// report to `out`; `Ok(problems)`, the number of buses not scanned to the end.
pub fn run(settings: &ScanSettings, out: &mut dyn Write) -> Result<usize, ScanError> {
    run_with(settings, out, &mut |number| {
        Box::new(LinuxBus::at_path(
            settings.dev_root.join(format!("i2c-{number}")),
        ))
    })
}

/// [`run`] with `open` giving the bus for a number (tests give fake buses).
pub fn run_with(
    settings: &ScanSettings,
    out: &mut dyn Write,
    open: &mut dyn FnMut(u32) -> Box<dyn I2cBus>,
) -> Result<usize, ScanError> {
    let (numbers, more_buses) = if settings.buses.is_empty() {
        bus_numbers(&settings.dev_root).map_err(|source| ScanError::ListBuses {
            dir: settings.dev_root.clone(),
            source,
        })?
    } else {
        (settings.buses.clone(), 0)
    };
    let scans: Vec<BusScan> = numbers
        .into_iter()
        .map(|number| scan_bus(number, open(number).as_mut()))
        .collect();
    let mut report = Report::from_i2c(&settings.dev_root.display().to_string(), &scans, more_buses);
    report.add_sysfs(
        &settings.sysfs_root.display().to_string(),
        IioDevice::all(&settings.sysfs_root),
        W1Probes::all(&settings.sysfs_root),
    );
    print_report(settings, &report, out)?;
    Ok(report.problems)
}

fn print_report(
    settings: &ScanSettings,
    report: &Report,
    out: &mut dyn Write,
) -> Result<(), ScanError> {
    writeln!(out, "{}", report.listing())?;
    if report.files.is_empty() {
        writeln!(
            out,
            "No sensor files: no chip with a sidecar driver was identified."
        )?;
    } else if let Some(dir) = &settings.write_dir {
        for path in write_files(dir, &report.files, settings.force)? {
            writeln!(out, "wrote {}", path.display())?;
        }
    } else {
        writeln!(out, "Sensor files (--write DIR writes them):")?;
        for file in &report.files {
            writeln!(out, "\n--- {} ---\n{}", file.name, file.text)?;
        }
    }
    if let Some(line) = report.nodes_line(&settings.node) {
        writeln!(
            out,
            "\nnodes.conf line for {} (files in the scripts directory):\n{line}",
            settings.node
        )?;
    }
    Ok(())
}

/// Writes every file into `dir`, each atomically. Without `force` nothing is
/// written if any of them exists. (Checked before writing: another writer in the
/// same moment would be replaced, acceptable for a command run by hand.)
fn write_files(dir: &Path, files: &[SensorFile], force: bool) -> Result<Vec<PathBuf>, ScanError> {
    let paths: Vec<PathBuf> = files.iter().map(|file| dir.join(&file.name)).collect();
    if !force {
        if let Some(path) = paths.iter().find(|path| path.symlink_metadata().is_ok()) {
            return Err(ScanError::Exists { path: path.clone() });
        }
    }
    for (path, file) in paths.iter().zip(files) {
        write_atomic(path, file.text.as_bytes())?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests;
