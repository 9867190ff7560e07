//! Memory controller error counts from `<sysfs>/devices/system/edac/mc/mcN/`, as
//! node_exporter 1.12.1's edac collector reads them: per controller `ce_count` and
//! `ue_count`, the errors the driver could not place on a csrow (`ce_noinfo_count`,
//! `ue_noinfo_count`) as csrow `unknown`, per `csrowM/` its `ce_count` and `ue_count`,
//! and per channel of a csrow (1.12.0, node_exporter #3720) `chK_ce_count` and
//! `chK_ue_count` labelled with the channel's `chK_dimm_label`.
//!
//! Controllers and csrows are found as node_exporter's globs `mc[0-9]*` and
//! `csrow[0-9]*` find them; the label is the run of digits after the prefix. Channels
//! are the files `ch*_ce_count` whose name has digits between `ch` and `_ce_count`.
//! The DIMM label is node_exporter's rewrite of the file's text: `#` removed, `_` put
//! before `csrow` and `channel` (the kernel's default `mc#0csrow#1channel#0` becomes
//! `mc0_csrow1_channel0`); `unknown` when there is no such file. A channel without a
//! `chK_ue_count` has no uncorrectable series (1.12.1, node_exporter #3734; 1.12.0
//! failed there). Any other count that is missing or not an unsigned decimal fails the
//! collector with the file named. A machine without EDAC (most ARM boards, non-ECC
//! memory) has no `mc/` directory: nothing to report, and success (node_exporter
//! returns nil there too).

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{go_valid_utf8, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "edac",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Edac::new(ctx.paths))),
};

pub struct Edac {
    mc_dir: PathBuf,
}

/// One controller's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    /// The digits after `mc`.
    pub number: String,
    pub correctable: u64,
    pub uncorrectable: u64,
    pub correctable_noinfo: u64,
    pub uncorrectable_noinfo: u64,
    pub csrows: Vec<Csrow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Csrow {
    /// The digits after `csrow`.
    pub number: String,
    pub correctable: u64,
    pub uncorrectable: u64,
    pub channels: Vec<Channel>,
}

/// One channel of a csrow.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// The digits of `chK_ce_count`.
    pub number: String,
    /// The rewritten `chK_dimm_label`, or `unknown`.
    pub dimm_label: String,
    pub correctable: u64,
    /// `None` when the csrow has no `chK_ue_count`.
    pub uncorrectable: Option<u64>,
}

/// node_exporter's rewrite of a `chK_dimm_label` text.
pub fn dimm_label(text: &str) -> String {
    text.replace('#', "")
        .replace("csrow", "_csrow")
        .replace("channel", "_channel")
}

/// The channels of one csrow directory: Go's glob `ch*_ce_count` (sorted) whose name
/// matches `ch([0-9]+)_ce_count`.
fn read_channels(row: &AttributeDir) -> Result<Vec<Channel>, CollectError> {
    let Ok(entries) = std::fs::read_dir(row.path()) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with("ch") && name.ends_with("_ce_count"))
        .collect();
    files.sort();
    let mut channels = Vec::new();
    for file in files {
        let Some(number) = channel_number(&file) else {
            continue;
        };
        let dimm_label = match row.read_sys_file(&format!("ch{number}_dimm_label")) {
            Ok(bytes) => dimm_label(&go_valid_utf8(&bytes)),
            Err(_) => "unknown".to_string(),
        };
        let correctable = read_count(row, &file)?;
        // Not every driver writes a per-channel uncorrectable count.
        let uncorrectable = read_count(row, &format!("ch{number}_ue_count")).ok();
        channels.push(Channel {
            number: number.to_string(),
            dimm_label,
            correctable,
            uncorrectable,
        });
    }
    Ok(channels)
}

/// The first run of digits that sits between `ch` and `_ce_count` in `name`, as
/// node_exporter's unanchored `ch([0-9]+)_ce_count` finds it.
fn channel_number(name: &str) -> Option<&str> {
    name.match_indices("ch").find_map(|(start, _)| {
        let rest = &name[start + 2..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        (digits > 0 && rest[digits..].starts_with("_ce_count")).then(|| &rest[..digits])
    })
}

/// The entries of `dir` that Go's `filepath.Glob(dir + "/<prefix>[0-9]*")` matches,
/// sorted, each with its label (the digits after the prefix). A directory that
/// cannot be listed matches nothing, as Go's glob ignores that error.
fn glob_numbered(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?;
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            (digits > 0).then(|| (name.clone(), rest[..digits].to_string()))
        })
        .collect();
    found.sort();
    found
}

/// node_exporter's `readUintFromFile`: the whole file, trimmed, as a decimal u64.
fn read_count(dir: &AttributeDir, file: &str) -> Result<u64, CollectError> {
    let text = dir
        .read(file)
        .map_err(|e| CollectError::read(&dir.path_of(file), e))?;
    // Go's ParseUint takes no sign; Rust's parse would take a `+`.
    let parsed = if text.starts_with('+') {
        None
    } else {
        text.parse().ok()
    };
    parsed.ok_or_else(|| {
        CollectError::parse(
            &dir.path_of(file),
            1,
            format!("not an unsigned integer: {text:?}"),
        )
    })
}

fn open(path: &Path) -> Result<AttributeDir, CollectError> {
    AttributeDir::open(path).map_err(|e| CollectError::read(path, e))
}

impl Edac {
    pub fn new(paths: &Paths) -> Self {
        Edac {
            mc_dir: paths.sys("devices/system/edac/mc"),
        }
    }

    /// Every controller's counts, in entry name order.
    pub fn read(&self) -> Result<Vec<Controller>, CollectError> {
        let mut controllers = Vec::new();
        for (entry, number) in glob_numbered(&self.mc_dir, "mc") {
            let path = self.mc_dir.join(&entry);
            let dir = open(&path)?;
            let correctable = read_count(&dir, "ce_count")?;
            let correctable_noinfo = read_count(&dir, "ce_noinfo_count")?;
            let uncorrectable = read_count(&dir, "ue_count")?;
            let uncorrectable_noinfo = read_count(&dir, "ue_noinfo_count")?;
            let mut csrows = Vec::new();
            for (row_entry, row_number) in glob_numbered(&path, "csrow") {
                let row = open(&path.join(row_entry))?;
                csrows.push(Csrow {
                    number: row_number,
                    correctable: read_count(&row, "ce_count")?,
                    uncorrectable: read_count(&row, "ue_count")?,
                    channels: read_channels(&row)?,
                });
            }
            controllers.push(Controller {
                number,
                correctable,
                uncorrectable,
                correctable_noinfo,
                uncorrectable_noinfo,
                csrows,
            });
        }
        Ok(controllers)
    }
}

/// Appends the four families, series ordered as node_exporter orders them.
pub fn record(controllers: &[Controller], out: &mut MetricSet) {
    if controllers.is_empty() {
        return;
    }
    let families = [
        (
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
        ),
        (
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
        ),
        (
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
        ),
        (
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
        ),
    ];
    for (index, (name, help)) in families.into_iter().enumerate() {
        let family = out.family(name, help, MetricKind::Counter);
        let correctable = index % 2 == 0;
        for controller in controllers {
            let controller_label = ("controller", controller.number.as_str());
            if index < 2 {
                let value = if correctable {
                    controller.correctable
                } else {
                    controller.uncorrectable
                };
                family.push(&[controller_label], value as f64);
                continue;
            }
            let noinfo = if correctable {
                controller.correctable_noinfo
            } else {
                controller.uncorrectable_noinfo
            };
            family.push(&[controller_label, ("csrow", "unknown")], noinfo as f64);
            for row in &controller.csrows {
                let value = if correctable {
                    row.correctable
                } else {
                    row.uncorrectable
                };
                family.push(&[controller_label, ("csrow", &row.number)], value as f64);
            }
        }
        family.sort_series();
    }
    for (name, help, correctable) in [
        (
            "node_edac_channel_correctable_errors_total",
            "Total correctable memory errors for this channel.",
            true,
        ),
        (
            "node_edac_channel_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this channel.",
            false,
        ),
    ] {
        let mut pushed = false;
        for controller in controllers {
            for row in &controller.csrows {
                for channel in &row.channels {
                    let value = if correctable {
                        Some(channel.correctable)
                    } else {
                        channel.uncorrectable
                    };
                    let Some(value) = value else { continue };
                    out.family(name, help, MetricKind::Counter).push(
                        &[
                            ("channel", &channel.number),
                            ("controller", &controller.number),
                            ("csrow", &row.number),
                            ("dimm_label", &channel.dimm_label),
                        ],
                        value as f64,
                    );
                    pushed = true;
                }
            }
        }
        if pushed {
            out.family(name, help, MetricKind::Counter).sort_series();
        }
    }
}

impl Collector for Edac {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let controllers = self.read()?;
        record(&controllers, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    fn scrape(collector: &mut Edac) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    #[test]
    fn the_fixture_gives_controller_and_csrow_counts() {
        let set = scrape(&mut Edac::new(&fixture_paths())).unwrap();
        let expected = parse_text(
            "# HELP node_edac_channel_correctable_errors_total Total correctable memory errors for this channel.
# TYPE node_edac_channel_correctable_errors_total counter
node_edac_channel_correctable_errors_total{channel=\"0\",controller=\"0\",csrow=\"0\",dimm_label=\"CPU_SrcID0_MC0_Chan0_DIMM0\"} 31
node_edac_channel_correctable_errors_total{channel=\"0\",controller=\"0\",csrow=\"1\",dimm_label=\"mc0_csrow1_channel0\"} 33
node_edac_channel_correctable_errors_total{channel=\"1\",controller=\"0\",csrow=\"1\",dimm_label=\"unknown\"} 35
# HELP node_edac_channel_uncorrectable_errors_total Total uncorrectable memory errors for this channel.
# TYPE node_edac_channel_uncorrectable_errors_total counter
node_edac_channel_uncorrectable_errors_total{channel=\"0\",controller=\"0\",csrow=\"0\",dimm_label=\"CPU_SrcID0_MC0_Chan0_DIMM0\"} 32
node_edac_channel_uncorrectable_errors_total{channel=\"0\",controller=\"0\",csrow=\"1\",dimm_label=\"mc0_csrow1_channel0\"} 34
# HELP node_edac_correctable_errors_total Total correctable memory errors.
# TYPE node_edac_correctable_errors_total counter
node_edac_correctable_errors_total{controller=\"0\"} 11
node_edac_correctable_errors_total{controller=\"1\"} 21
# HELP node_edac_csrow_correctable_errors_total Total correctable memory errors for this csrow.
# TYPE node_edac_csrow_correctable_errors_total counter
node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"0\"} 4
node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"1\"} 5
node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"unknown\"} 2
node_edac_csrow_correctable_errors_total{controller=\"1\",csrow=\"unknown\"} 0
# HELP node_edac_csrow_uncorrectable_errors_total Total uncorrectable memory errors for this csrow.
# TYPE node_edac_csrow_uncorrectable_errors_total counter
node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"0\"} 6
node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"1\"} 7
node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"unknown\"} 3
node_edac_csrow_uncorrectable_errors_total{controller=\"1\",csrow=\"unknown\"} 1
# HELP node_edac_uncorrectable_errors_total Total uncorrectable memory errors.
# TYPE node_edac_uncorrectable_errors_total counter
node_edac_uncorrectable_errors_total{controller=\"0\"} 13
node_edac_uncorrectable_errors_total{controller=\"1\"} 23
",
        );
        assert_eq!(
            rendered(&set, |name| name.starts_with("node_edac_")),
            expected
        );
    }

    fn mc(root: &Path, name: &str, counts: [&str; 4]) -> PathBuf {
        let dir = root.join("devices/system/edac/mc").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, value) in ["ce_count", "ce_noinfo_count", "ue_count", "ue_noinfo_count"]
            .into_iter()
            .zip(counts)
        {
            std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
        }
        dir
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn globs_and_labels_follow_node_exporter() {
        let root = tempfile::tempdir().unwrap();
        mc(root.path(), "mc10", ["1", "2", "3", "4"]);
        let dir = mc(root.path(), "mc2x", ["5", "6", "7", "8"]);
        std::fs::create_dir_all(root.path().join("devices/system/edac/mc/mcX")).unwrap();
        std::fs::create_dir_all(dir.join("csrow12extra")).unwrap();
        std::fs::write(dir.join("csrow12extra/ce_count"), "9").unwrap();
        std::fs::write(dir.join("csrow12extra/ue_count"), "10").unwrap();
        let controllers = Edac::new(&sys_paths(&root)).read().unwrap();
        let numbers: Vec<&str> = controllers.iter().map(|c| c.number.as_str()).collect();
        assert_eq!(numbers, ["10", "2"]);
        assert_eq!(
            controllers[1].csrows,
            [Csrow {
                number: "12".into(),
                correctable: 9,
                uncorrectable: 10,
                channels: Vec::new(),
            }]
        );
    }

    #[test]
    fn channel_names_and_dimm_labels_follow_node_exporter() {
        assert_eq!(channel_number("ch0_ce_count"), Some("0"));
        assert_eq!(channel_number("ch12_ce_count"), Some("12"));
        assert_eq!(channel_number("chX_ce_count"), None);
        assert_eq!(channel_number("ch_ce_count"), None);
        assert_eq!(channel_number("chip_ch3_ce_count"), Some("3"));
        assert_eq!(dimm_label("mc#0csrow#1channel#0"), "mc0_csrow1_channel0");
        assert_eq!(dimm_label("DIMM_A1"), "DIMM_A1");
    }

    #[test]
    fn a_bad_channel_count_fails_and_a_missing_ue_count_is_left_out() {
        let root = tempfile::tempdir().unwrap();
        let dir = mc(root.path(), "mc0", ["1", "2", "3", "4"]);
        let row = dir.join("csrow0");
        std::fs::create_dir(&row).unwrap();
        for (file, value) in [("ce_count", "5"), ("ue_count", "6"), ("ch0_ce_count", "7")] {
            std::fs::write(row.join(file), value).unwrap();
        }
        let mut collector = Edac::new(&sys_paths(&root));
        let set = scrape(&mut collector).unwrap();
        assert!(set
            .get("node_edac_channel_uncorrectable_errors_total")
            .is_none());
        let labels = [("channel", "0"), ("dimm_label", "unknown")];
        assert_eq!(
            set.value("node_edac_channel_correctable_errors_total", &labels),
            Some(7.0)
        );
        std::fs::write(row.join("ch0_ce_count"), "-1").unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(err.contains("csrow0/ch0_ce_count:1:"), "{err}");
    }

    #[test]
    fn a_bad_count_fails_naming_the_file_and_no_edac_is_empty() {
        let root = tempfile::tempdir().unwrap();
        let mut collector = Edac::new(&sys_paths(&root));
        assert!(scrape(&mut collector).unwrap().families().is_empty());
        let dir = mc(root.path(), "mc0", ["1", "x", "3", "4"]);
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(
            err.ends_with("mc0/ce_noinfo_count:1: not an unsigned integer: \"x\""),
            "{err}"
        );
        std::fs::write(dir.join("ce_noinfo_count"), "0").unwrap();
        std::fs::create_dir(dir.join("csrow0")).unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(err.contains("csrow0/ce_count: No such file"), "{err}");
    }
}
