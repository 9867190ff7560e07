//! `node_ksmd_*` from `<sysfs>/kernel/mm/ksm/` (off by default, as in node_exporter):
//! nine of its files, `full_scans` as `node_ksmd_full_scans_total` (a counter) and
//! `sleep_millisecs` as `node_ksmd_sleep_seconds`; the others are gauges named after
//! their file. Newer files (general_profit, ksm_zero_pages, ...) are not read. A
//! missing file fails the collector, as in node_exporter (a kernel without CONFIG_KSM
//! has no directory).

use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::AttributeDir;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "ksmd",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Ksmd::new(ctx.paths))),
};

/// Each file, its family, HELP and type, in node_exporter's order.
const FILES: [(&str, &str, &str, MetricKind); 9] = [
    (
        "full_scans",
        "node_ksmd_full_scans_total",
        "ksmd 'full_scans' file.",
        MetricKind::Counter,
    ),
    (
        "merge_across_nodes",
        "node_ksmd_merge_across_nodes",
        "ksmd 'merge_across_nodes' file.",
        MetricKind::Gauge,
    ),
    (
        "pages_shared",
        "node_ksmd_pages_shared",
        "ksmd 'pages_shared' file.",
        MetricKind::Gauge,
    ),
    (
        "pages_sharing",
        "node_ksmd_pages_sharing",
        "ksmd 'pages_sharing' file.",
        MetricKind::Gauge,
    ),
    (
        "pages_to_scan",
        "node_ksmd_pages_to_scan",
        "ksmd 'pages_to_scan' file.",
        MetricKind::Gauge,
    ),
    (
        "pages_unshared",
        "node_ksmd_pages_unshared",
        "ksmd 'pages_unshared' file.",
        MetricKind::Gauge,
    ),
    (
        "pages_volatile",
        "node_ksmd_pages_volatile",
        "ksmd 'pages_volatile' file.",
        MetricKind::Gauge,
    ),
    (
        "run",
        "node_ksmd_run",
        "ksmd 'run' file.",
        MetricKind::Gauge,
    ),
    (
        "sleep_millisecs",
        "node_ksmd_sleep_seconds",
        "ksmd 'sleep_millisecs' file.",
        MetricKind::Gauge,
    ),
];

pub struct Ksmd {
    path: PathBuf,
    /// Opened at the first scrape that finds the directory.
    dir: Option<AttributeDir>,
}

impl Ksmd {
    pub fn new(paths: &Paths) -> Self {
        Ksmd {
            path: paths.sys("kernel/mm/ksm"),
            dir: None,
        }
    }
}

impl Collector for Ksmd {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let dir = match &self.dir {
            Some(dir) => dir,
            None => self.dir.insert(
                AttributeDir::open(&self.path).map_err(|e| CollectError::read(&self.path, e))?,
            ),
        };
        let mut values = [0.0; FILES.len()];
        for ((file, ..), value) in FILES.iter().zip(&mut values) {
            let text = dir
                .read(file)
                .map_err(|e| CollectError::read(&dir.path_of(file), e))?;
            let count: u64 = text.parse().map_err(|_| {
                CollectError::parse(
                    &dir.path_of(file),
                    1,
                    format!("not an unsigned integer: {text:?}"),
                )
            })?;
            *value = count as f64;
        }
        for ((file, name, help, kind), value) in FILES.iter().zip(values) {
            let value = if *file == "sleep_millisecs" {
                value / 1000.0
            } else {
                value
            };
            out.family(*name, *help, *kind).push(&[], value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    #[test]
    fn nine_files_of_the_fixture() {
        let mut out = MetricSet::new();
        Ksmd::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let lines = rendered(&out, |_| true);
        let expected: Vec<Line> = [
            ("full_scans", "full_scans_total", "counter", 1873.0),
            ("merge_across_nodes", "merge_across_nodes", "gauge", 0.0),
            ("pages_shared", "pages_shared", "gauge", 2914.0),
            ("pages_sharing", "pages_sharing", "gauge", 18237.0),
            ("pages_to_scan", "pages_to_scan", "gauge", 100.0),
            ("pages_unshared", "pages_unshared", "gauge", 53127.0),
            ("pages_volatile", "pages_volatile", "gauge", 812.0),
            ("run", "run", "gauge", 1.0),
            ("sleep_millisecs", "sleep_seconds", "gauge", 0.2),
        ]
        .iter()
        .flat_map(|(file, suffix, kind, value)| {
            let name = format!("node_ksmd_{suffix}");
            [
                Line::Help(name.clone(), format!("ksmd '{file}' file.")),
                Line::Type(name.clone(), (*kind).into()),
                Line::Sample(name, vec![], *value),
            ]
        })
        .collect();
        let key = |l: &Line| l.family().to_string();
        let (mut lines, mut expected) = (lines, expected);
        lines.sort_by_key(key);
        expected.sort_by_key(key);
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_missing_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut ksmd = Ksmd::new(&paths);
        let err = ksmd
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
        let ksm = dir.path().join("sys/kernel/mm/ksm");
        std::fs::create_dir_all(&ksm).unwrap();
        for (file, ..) in FILES {
            std::fs::write(ksm.join(file), "5\n").unwrap();
        }
        std::fs::remove_file(ksm.join("pages_volatile")).unwrap();
        let err = ksmd
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("reading {}", ksm.join("pages_volatile").display())),
            "{err}"
        );
        std::fs::write(ksm.join("pages_volatile"), "many\n").unwrap();
        let err = ksmd
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1: not an unsigned integer: \"many\"",
                ksm.join("pages_volatile").display()
            )
        );
    }
}
