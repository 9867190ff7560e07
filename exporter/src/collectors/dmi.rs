//! `node_dmi_info` from `<sysfs>/class/dmi/id/*`, as node_exporter 1.12 builds it
//! (procfs `DMIClass`): every regular file of the directory but `modalias` and
//! `uevent` is read once, when the exporter starts (DMI does not change until the next
//! boot), with procfs's `SysReadFile` (one read of at most 128 bytes, trimmed), and
//! its value made valid UTF-8 as Go's `strings.ToValidUTF8` does.
//!
//! A label is present exactly when its file was read: a file that exists but is empty
//! gives an empty value, while the root-only files (`product_serial`, `board_serial`,
//! `chassis_serial`, `product_uuid`) are skipped on EACCES, so a non-root exporter
//! has no such label at all. `chassis_type` is read but not exported, as in 1.12.
//! No `class/dmi/id` (ARM boards, most containers) is nothing to report (ErrNoData).
//!
//! Unlike node_exporter, a file that fails to read with another error does not stop
//! the exporter from starting (1.12 refuses to start): it is logged, and the collector
//! then reports nothing.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{go_valid_utf8, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "dmi",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Dmi::new(ctx.paths))),
};

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, \
bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, \
board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, \
product_family, product_name, product_serial, product_sku, product_uuid, product_version, \
system_vendor if provided by DMI.";

/// `(file, label)`, in label name order (the order node_exporter writes them).
const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

pub struct Dmi {
    /// The label pairs of the one sample, read at start; empty when there is no DMI.
    labels: Vec<(&'static str, String)>,
}

/// Why the DMI directory gave no labels.
#[derive(Debug)]
pub enum DmiError {
    /// No `class/dmi/id`: the platform has no DMI.
    Absent,
    Failed(CollectError),
}

/// Reads the label pairs from a `class/dmi/id` directory, in label name order.
pub fn read_dmi(dir: &Path) -> Result<Vec<(&'static str, String)>, DmiError> {
    let listing = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DmiError::Absent,
        _ => DmiError::Failed(CollectError::read(dir, e)),
    })?;
    let attributes =
        AttributeDir::open(dir).map_err(|e| DmiError::Failed(CollectError::read(dir, e)))?;
    let mut found: Vec<(usize, String)> = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| DmiError::Failed(CollectError::read(dir, e)))?;
        // Regular files only, as procfs lists them (no `power/`, no `subsystem` link).
        let regular = entry
            .file_type()
            .map(|t| t.is_file() && !t.is_symlink() && !t.is_fifo())
            .unwrap_or(false);
        if !regular {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "modalias" || name == "uevent" {
            continue;
        }
        let value = match attributes.read_sys_file(name) {
            Ok(value) => value,
            // Only root may read the serial numbers and the UUID.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => continue,
            Err(e) => {
                return Err(DmiError::Failed(CollectError::read(
                    &attributes.path_of(name),
                    e,
                )))
            }
        };
        if let Some(index) = FIELDS.iter().position(|(file, _)| *file == name) {
            found.push((index, go_valid_utf8(&value)));
        }
    }
    found.sort_by_key(|(index, _)| *index);
    Ok(found
        .into_iter()
        .map(|(index, value)| (FIELDS[index].1, value))
        .collect())
}

impl Dmi {
    pub fn new(paths: &Paths) -> Self {
        let dir = paths.sys("class/dmi/id");
        let labels = match read_dmi(&dir) {
            Ok(labels) => labels,
            Err(DmiError::Absent) => {
                tracing::debug!(dir = %dir.display(), "platform does not support DMI information");
                Vec::new()
            }
            Err(DmiError::Failed(error)) => {
                tracing::warn!(%error, "failed to read DMI information");
                Vec::new()
            }
        };
        Dmi { labels }
    }
}

impl Collector for Dmi {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        if self.labels.is_empty() {
            return Err(CollectError::NoData("no DMI information".into()));
        }
        let labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        out.family("node_dmi_info", HELP, MetricKind::Gauge)
            .push(&labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    fn scrape(collector: &mut Dmi) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    #[test]
    fn the_fixture_gives_every_label_that_has_a_file() {
        let set = scrape(&mut Dmi::new(&fixture_paths())).unwrap();
        let expected = parse_text(concat!(
            "# HELP node_dmi_info A metric with a constant '1' value labeled by bios_date, ",
            "bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, ",
            "board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, ",
            "chassis_version, product_family, product_name, product_serial, product_sku, ",
            "product_uuid, product_version, system_vendor if provided by DMI.\n",
            "# TYPE node_dmi_info gauge\n",
            "node_dmi_info{bios_date=\"03/14/2023\",bios_release=\"1.52\",",
            "bios_vendor=\"LENOVO\",bios_version=\"R0PET52W (1.52 )\",board_asset_tag=\"\",",
            "board_name=\"20KRS0XX00\",board_serial=\"L1HF8CK01PB\",board_vendor=\"LENOVO\",",
            "board_version=\"SDK0J40697 WIN\",chassis_asset_tag=\"No Asset Information\",",
            "chassis_serial=\"PF1QBV7K\",chassis_vendor=\"LENOVO\",chassis_version=\"None\",",
            "product_family=\"ThinkPad E480\",product_name=\"20KN001QGE\",",
            "product_serial=\"PF1QBV7K-P\",product_sku=\"LENOVO_MT_20KN_BU_Think_FM_ThinkPad E480\",",
            "product_uuid=\"4c4c4544-0035-3510-8052-b4c04f4d4e32\",product_version=\"ThinkPad E480 \u{FFFD}\",",
            "system_vendor=\"LENOVO\"} 1\n",
        ));
        assert_eq!(rendered(&set, |name| name == "node_dmi_info"), expected);
    }

    #[test]
    fn unreadable_files_are_left_out_and_no_directory_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths {
            sysfs: root.path().to_path_buf(),
            ..Paths::default()
        };
        let err = scrape(&mut Dmi::new(&paths)).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");

        let dir = root.path().join("class/dmi/id");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bios_vendor"), "coreboot\n").unwrap();
        std::fs::write(dir.join("board_name"), "").unwrap();
        std::fs::write(dir.join("uevent"), "MODALIAS=dmi:bvncoreboot\n").unwrap();
        std::fs::write(dir.join("chassis_type"), "10\n").unwrap();
        std::fs::create_dir(dir.join("power")).unwrap();
        assert_eq!(
            read_dmi(&dir).unwrap(),
            [
                ("bios_vendor", "coreboot".to_string()),
                ("board_name", String::new())
            ]
        );
        // A directory where a file is expected fails with the file named.
        std::fs::remove_dir(dir.join("power")).unwrap();
        std::fs::create_dir(dir.join("product_name")).unwrap();
        assert_eq!(read_dmi(&dir).unwrap().len(), 2, "directories are not read");
        std::os::unix::fs::symlink(dir.join("product_name"), dir.join("product_sku")).unwrap();
        assert_eq!(read_dmi(&dir).unwrap().len(), 2, "links are not read");
    }
}
