//! `node_nvme_info` and the `node_nvme_namespace_*` families from
//! `<sysfs>/class/nvme/<controller>/`, as node_exporter 1.12 reads them (procfs'
//! `NVMeClass`).
//!
//! Per controller: `firmware_rev`, `model`, `serial`, `state` and `cntlid`, trimmed;
//! any of them unreadable fails the collector, as in node_exporter (a missing one is
//! reported as no data, as there). Per namespace —
//! an entry of the controller directory whose name contains `nvme<N>c<N>n<ID>`, the
//! per-path device a kernel with native NVMe multipathing (most distributions) puts
//! there; a kernel without it has `nvme0n1` there, which node_exporter does not count
//! as a namespace — `nuse`, `size` and `queue/logical_block_size` must be readable,
//! and a value that is not an unsigned integer reads as 0. `ana_state` is optional
//! (`unknown` when absent). Surprising but node_exporter's: `size_bytes` and
//! `capacity_bytes` are both `size` × logical block size, though the kernel writes
//! `size` in 512-byte sectors whatever the block size.
//!
//! No `class/nvme` (no NVMe driver) is nothing to report, like node_exporter's
//! ErrNoData.

use std::io;
use std::path::{Path, PathBuf};

use regex_lite::Regex;

use crate::collector::{Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::AttributeDir;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nvme",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Nvme::new(ctx.paths)?)),
};

/// procfs' pattern, unanchored as there.
const NAMESPACE_PATTERN: &str = r"nvme\d+c\d+n(\d+)";

/// One controller as read this scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    pub name: String,
    pub firmware_revision: String,
    pub model: String,
    pub serial: String,
    pub state: String,
    pub cntlid: String,
    pub namespaces: Vec<Namespace>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub id: String,
    pub ana_state: String,
    /// `nuse`, in logical blocks.
    pub used_blocks: u64,
    /// `size`.
    pub size_blocks: u64,
    pub logical_block_size: u64,
}

pub struct Nvme {
    class: PathBuf,
    namespace: Regex,
}

impl Nvme {
    pub fn new(paths: &Paths) -> Result<Self, ConfigError> {
        Ok(Nvme {
            class: paths.sys("class/nvme"),
            namespace: Regex::new(NAMESPACE_PATTERN)
                .map_err(|e| ConfigError::new("nvme namespace pattern", e))?,
        })
    }

    /// Every controller of `class/nvme`, in name order.
    pub fn read(&self) -> Result<Vec<Controller>, CollectError> {
        let entries = std::fs::read_dir(&self.class).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CollectError::NoData(format!("{} does not exist", self.class.display()))
            } else {
                CollectError::read(&self.class, e)
            }
        })?;
        let mut names = entry_names(entries, &self.class)?;
        names.sort();
        names
            .into_iter()
            .map(|name| self.read_controller(name))
            .collect()
    }

    fn read_controller(&self, name: String) -> Result<Controller, CollectError> {
        let path = self.class.join(&name);
        let dir = AttributeDir::open(&path).map_err(|e| unreadable(&path, e))?;
        let attribute = |file: &str| {
            dir.read(file)
                .map_err(|e| unreadable(&dir.path_of(file), e))
        };
        let firmware_revision = attribute("firmware_rev")?;
        let model = attribute("model")?;
        let serial = attribute("serial")?;
        let state = attribute("state")?;
        let cntlid = attribute("cntlid")?;
        let entries = std::fs::read_dir(&path).map_err(|e| CollectError::read(&path, e))?;
        let mut namespaces = Vec::new();
        let mut children = entry_names(entries, &path)?;
        children.sort();
        for child in children {
            let Some(id) = self
                .namespace
                .captures(&child)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
            else {
                continue;
            };
            namespaces.push(read_namespace(&path.join(&child), id)?);
        }
        Ok(Controller {
            name,
            firmware_revision,
            model,
            serial,
            state,
            cntlid,
            namespaces,
        })
    }
}

/// procfs wraps the error of a file it cannot read, and node_exporter's
/// `errors.Is(err, os.ErrNotExist)` then sees through it: a missing file is ErrNoData,
/// not a failure (both report `success 0`; only the log level differs).
fn unreadable(path: &Path, e: io::Error) -> CollectError {
    if e.kind() == io::ErrorKind::NotFound {
        CollectError::NoData(format!("{} does not exist", path.display()))
    } else {
        CollectError::read(path, e)
    }
}

fn entry_names(entries: std::fs::ReadDir, path: &Path) -> Result<Vec<String>, CollectError> {
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CollectError::read(path, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn read_namespace(path: &Path, id: String) -> Result<Namespace, CollectError> {
    let dir = AttributeDir::open(path).map_err(|e| unreadable(path, e))?;
    // Like procfs: the file must be readable, but a value that is not a number is 0.
    let number = |file: &str| -> Result<u64, CollectError> {
        let text = dir
            .read(file)
            .map_err(|e| unreadable(&dir.path_of(file), e))?;
        Ok(text.parse().unwrap_or(0))
    };
    let used_blocks = number("nuse")?;
    let size_blocks = number("size")?;
    let logical_block_size = number("queue/logical_block_size")?;
    let ana_state = dir
        .read("ana_state")
        .unwrap_or_else(|_| "unknown".to_string());
    Ok(Namespace {
        id,
        ana_state,
        used_blocks,
        size_blocks,
        logical_block_size,
    })
}

pub fn record(controllers: &[Controller], out: &mut MetricSet) {
    for c in controllers {
        out.gauge(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            &[
                ("cntlid", &c.cntlid),
                ("device", &c.name),
                ("firmware_revision", &c.firmware_revision),
                ("model", &c.model),
                ("serial", &c.serial),
                ("state", &c.state),
            ],
            1.0,
        );
        for ns in &c.namespaces {
            let labels = [("device", c.name.as_str()), ("nsid", ns.id.as_str())];
            // u64 arithmetic wraps as in Go.
            let size_bytes = ns.size_blocks.wrapping_mul(ns.logical_block_size) as f64;
            out.gauge(
                "node_nvme_namespace_info",
                "Information about NVMe namespaces. Value is always 1",
                &[
                    ("ana_state", &ns.ana_state),
                    ("device", &c.name),
                    ("nsid", &ns.id),
                ],
                1.0,
            );
            out.gauge(
                "node_nvme_namespace_capacity_bytes",
                "Capacity of the NVMe namespace in bytes. Computed as namespace_size * namespace_logical_block_size",
                &labels,
                size_bytes,
            );
            out.gauge(
                "node_nvme_namespace_size_bytes",
                "Size of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/size",
                &labels,
                size_bytes,
            );
            out.gauge(
                "node_nvme_namespace_used_bytes",
                "Used space of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/nuse",
                &labels,
                ns.used_blocks.wrapping_mul(ns.logical_block_size) as f64,
            );
            out.gauge(
                "node_nvme_namespace_logical_block_size_bytes",
                "Logical block size of the NVMe namespace in bytes. Usually 4Kb. Available in /sys/class/nvme/<device>/<namespace>/queue/logical_block_size",
                &labels,
                ns.logical_block_size as f64,
            );
        }
    }
    // Namespace IDs sort as strings ("10" before "2"), as node_exporter's registry does.
    out.sort_series();
}

impl Collector for Nvme {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let controllers = self.read()?;
        record(&controllers, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Nvme::new(paths)
            .unwrap()
            .update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn fixture_controller_and_namespace() {
        let set = scrape(&fixture_paths()).unwrap();
        let lines = rendered(&set, |f| f.starts_with("node_nvme_"));
        let sample = |name: &str, labels: &[(&str, &str)], value| {
            Line::Sample(
                name.into(),
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value,
            )
        };
        let ns = [("device", "nvme0"), ("nsid", "1")];
        assert_eq!(
            lines,
            vec![
                Line::Help("node_nvme_info".into(), "Non-numeric data from /sys/class/nvme/<device>, value is always 1.".into()),
                Line::Type("node_nvme_info".into(), "gauge".into()),
                sample(
                    "node_nvme_info",
                    &[
                        ("cntlid", "4"),
                        ("device", "nvme0"),
                        ("firmware_revision", "2B2QEXM7"),
                        ("model", "Samsung SSD 970 EVO Plus 500GB"),
                        ("serial", "S4EVNX0N123456A"),
                        ("state", "live"),
                    ],
                    1.0
                ),
                Line::Help("node_nvme_namespace_capacity_bytes".into(), "Capacity of the NVMe namespace in bytes. Computed as namespace_size * namespace_logical_block_size".into()),
                Line::Type("node_nvme_namespace_capacity_bytes".into(), "gauge".into()),
                sample("node_nvme_namespace_capacity_bytes", &ns, 976773168.0 * 512.0),
                Line::Help("node_nvme_namespace_info".into(), "Information about NVMe namespaces. Value is always 1".into()),
                Line::Type("node_nvme_namespace_info".into(), "gauge".into()),
                sample(
                    "node_nvme_namespace_info",
                    &[("ana_state", "unknown"), ("device", "nvme0"), ("nsid", "1")],
                    1.0
                ),
                Line::Help("node_nvme_namespace_logical_block_size_bytes".into(), "Logical block size of the NVMe namespace in bytes. Usually 4Kb. Available in /sys/class/nvme/<device>/<namespace>/queue/logical_block_size".into()),
                Line::Type("node_nvme_namespace_logical_block_size_bytes".into(), "gauge".into()),
                sample("node_nvme_namespace_logical_block_size_bytes", &ns, 512.0),
                Line::Help("node_nvme_namespace_size_bytes".into(), "Size of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/size".into()),
                Line::Type("node_nvme_namespace_size_bytes".into(), "gauge".into()),
                sample("node_nvme_namespace_size_bytes", &ns, 976773168.0 * 512.0),
                Line::Help("node_nvme_namespace_used_bytes".into(), "Used space of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/nuse".into()),
                Line::Type("node_nvme_namespace_used_bytes".into(), "gauge".into()),
                sample("node_nvme_namespace_used_bytes", &ns, 402117239.0 * 512.0),
            ]
        );
    }

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn controller(root: &Path, name: &str) -> PathBuf {
        let dir = root.join("sys/class/nvme").join(name);
        for (file, text) in [
            ("firmware_rev", "1.0\n"),
            ("model", "Model X   \n"),
            ("serial", "  SER1\n"),
            ("state", "live\n"),
            ("cntlid", "1\n"),
        ] {
            write(&dir, file, text);
        }
        dir
    }

    #[test]
    fn namespaces_ana_state_and_odd_values() {
        let root = tempfile::tempdir().unwrap();
        let dir = controller(root.path(), "nvme1");
        for (ns, ana) in [("nvme1c1n2", Some("optimized\n")), ("nvme1c1n10", None)] {
            write(&dir, &format!("{ns}/nuse"), "5\n");
            write(&dir, &format!("{ns}/size"), "x\n");
            write(&dir, &format!("{ns}/queue/logical_block_size"), "4096\n");
            if let Some(ana) = ana {
                write(&dir, &format!("{ns}/ana_state"), ana);
            }
        }
        // Not a namespace by node_exporter's pattern.
        write(&dir, "nvme1n1/size", "9\n");
        let set = scrape(&Paths::under(root.path())).unwrap();
        let info = set.get("node_nvme_info").unwrap().samples();
        assert_eq!(
            info[0].labels,
            [
                ("cntlid", "1"),
                ("device", "nvme1"),
                ("firmware_revision", "1.0"),
                ("model", "Model X"),
                ("serial", "SER1"),
                ("state", "live"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let ns_info = set.get("node_nvme_namespace_info").unwrap().samples();
        let ids: Vec<(&str, &str)> = ns_info
            .iter()
            .map(|s| (s.labels[0].1.as_str(), s.labels[2].1.as_str()))
            .collect();
        assert_eq!(ids, [("optimized", "2"), ("unknown", "10")]);
        let used = |nsid: &str| {
            set.value(
                "node_nvme_namespace_used_bytes",
                &[("device", "nvme1"), ("nsid", nsid)],
            )
        };
        assert_eq!(used("10"), Some(20480.0));
        // "x" is not a number: 0, as procfs reads it.
        assert_eq!(
            set.value("node_nvme_namespace_size_bytes", &[("nsid", "2")]),
            Some(0.0)
        );
        // IDs sort as strings, as node_exporter writes them.
        let order: Vec<String> = set
            .get("node_nvme_namespace_used_bytes")
            .unwrap()
            .samples()
            .into_iter()
            .map(|s| s.labels[1].1.clone())
            .collect();
        assert_eq!(order, ["10", "2"]);
    }

    #[test]
    fn a_missing_attribute_fails_with_its_path_and_no_class_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let err = scrape(&Paths::under(root.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        let dir = controller(root.path(), "nvme0");
        std::fs::remove_file(dir.join("cntlid")).unwrap();
        let err = scrape(&Paths::under(root.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        assert!(
            err.to_string()
                .contains(&dir.join("cntlid").display().to_string()),
            "{err}"
        );
        std::fs::write(dir.join("cntlid"), "1\n").unwrap();
        write(&dir, "nvme0c0n1/size", "1\n");
        let err = scrape(&Paths::under(root.path())).unwrap_err();
        assert!(err.to_string().contains("nvme0c0n1/nuse"), "{err}");
    }
}
