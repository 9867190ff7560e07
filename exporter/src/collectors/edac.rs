//! Memory controller error counts from `<sysfs>/devices/system/edac/mc/mcN/`, as
//! node_exporter 1.12's edac collector reads them: per controller `ce_count` and
//! `ue_count`, the errors the driver could not place on a csrow (`ce_noinfo_count`,
//! `ue_noinfo_count`) as csrow `unknown`, and per `csrowM/` its `ce_count` and
//! `ue_count`.
//!
//! Controllers and csrows are found as node_exporter's globs `mc[0-9]*` and
//! `csrow[0-9]*` find them; the label is the run of digits after the prefix. Any
//! count that is missing or not an unsigned decimal fails the collector with the file
//! named. A machine without EDAC (most ARM boards, non-ECC memory) has no `mc/`
//! directory: nothing to report, and success (node_exporter returns nil there too).

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::AttributeDir;
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
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_fixture_gives_controller_and_csrow_counts() {
        let set = scrape(&mut Edac::new(&fixture_paths())).unwrap();
        let expected = parse_text(
            "# HELP node_edac_correctable_errors_total Total correctable memory errors.
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
        Paths {
            sysfs: dir.path().to_path_buf(),
            ..Paths::default()
        }
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
                uncorrectable: 10
            }]
        );
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
