//! `node_cgroups_cgroups` and `node_cgroups_enabled` per controller from
//! `<procfs>/cgroups`, as node_exporter 1.12's cgroups collector (off by default)
//! reads them with procfs's `CgroupSummarys`: the header line is skipped, and each
//! other line must have at least four fields, `subsys_name hierarchy num_cgroups
//! enabled`, the last three decimal integers. Both families carry node_exporter's help
//! text, the same for both. A missing file or a bad line fails the collector with the
//! place named (node_exporter does not treat a missing file as "no data" here).

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::parse_field;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cgroups",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Cgroups::new(ctx.paths))),
};

const HELP: &str = "Current cgroup number of the subsystem.";

/// One controller's line.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupSummary<'a> {
    pub subsys_name: &'a str,
    pub cgroups: i64,
    pub enabled: i64,
}

/// Parses `/proc/cgroups`; the first line is the header whatever it says.
pub fn parse_cgroups<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<CgroupSummary<'a>>, CollectError> {
    text.lines()
        .enumerate()
        .skip(1)
        .map(|(index, line)| {
            let number = index + 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 4 {
                return Err(CollectError::parse(
                    path,
                    number,
                    format!("4+ fields required, found {}", fields.len()),
                ));
            }
            let _hierarchy: i64 = parse_field(Some(fields[1]), path, number, "hierarchy")?;
            Ok(CgroupSummary {
                subsys_name: fields[0],
                cgroups: parse_field(Some(fields[2]), path, number, "num_cgroups")?,
                enabled: parse_field(Some(fields[3]), path, number, "enabled")?,
            })
        })
        .collect()
}

pub struct Cgroups {
    path: PathBuf,
}

impl Cgroups {
    pub fn new(paths: &Paths) -> Self {
        Cgroups {
            path: paths.proc("cgroups"),
        }
    }
}

/// Appends both families, series in controller name order.
pub fn record(summaries: &[CgroupSummary], out: &mut MetricSet) {
    let mut sorted: Vec<&CgroupSummary> = summaries.iter().collect();
    sorted.sort_by_key(|summary| summary.subsys_name);
    for (name, enabled) in [
        ("node_cgroups_cgroups", false),
        ("node_cgroups_enabled", true),
    ] {
        let family = out.family(name, HELP, MetricKind::Gauge);
        for summary in &sorted {
            let value = if enabled {
                summary.enabled
            } else {
                summary.cgroups
            };
            family.push(&[("subsys_name", summary.subsys_name)], value as f64);
        }
    }
}

impl Collector for Cgroups {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = sources.table(&self.path)?;
        let summaries = parse_cgroups(text, &self.path)?;
        record(&summaries, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    #[test]
    fn the_fixture_gives_every_controller() {
        let mut out = MetricSet::new();
        Cgroups::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let expected = parse_text(
            "# HELP node_cgroups_cgroups Current cgroup number of the subsystem.
# TYPE node_cgroups_cgroups gauge
node_cgroups_cgroups{subsys_name=\"blkio\"} 3
node_cgroups_cgroups{subsys_name=\"cpu\"} 87
node_cgroups_cgroups{subsys_name=\"cpuacct\"} 88
node_cgroups_cgroups{subsys_name=\"cpuset\"} 2
node_cgroups_cgroups{subsys_name=\"devices\"} 89
node_cgroups_cgroups{subsys_name=\"freezer\"} 4
node_cgroups_cgroups{subsys_name=\"hugetlb\"} 5
node_cgroups_cgroups{subsys_name=\"memory\"} 91
node_cgroups_cgroups{subsys_name=\"misc\"} 6
node_cgroups_cgroups{subsys_name=\"net_cls\"} 7
node_cgroups_cgroups{subsys_name=\"net_prio\"} 8
node_cgroups_cgroups{subsys_name=\"perf_event\"} 9
node_cgroups_cgroups{subsys_name=\"pids\"} 93
node_cgroups_cgroups{subsys_name=\"rdma\"} 10
# HELP node_cgroups_enabled Current cgroup number of the subsystem.
# TYPE node_cgroups_enabled gauge
node_cgroups_enabled{subsys_name=\"blkio\"} 1
node_cgroups_enabled{subsys_name=\"cpu\"} 1
node_cgroups_enabled{subsys_name=\"cpuacct\"} 1
node_cgroups_enabled{subsys_name=\"cpuset\"} 1
node_cgroups_enabled{subsys_name=\"devices\"} 1
node_cgroups_enabled{subsys_name=\"freezer\"} 1
node_cgroups_enabled{subsys_name=\"hugetlb\"} 1
node_cgroups_enabled{subsys_name=\"memory\"} 0
node_cgroups_enabled{subsys_name=\"misc\"} 1
node_cgroups_enabled{subsys_name=\"net_cls\"} 1
node_cgroups_enabled{subsys_name=\"net_prio\"} 1
node_cgroups_enabled{subsys_name=\"perf_event\"} 1
node_cgroups_enabled{subsys_name=\"pids\"} 1
node_cgroups_enabled{subsys_name=\"rdma\"} 1
",
        );
        assert_eq!(
            rendered(&out, |name| name.starts_with("node_cgroups_")),
            expected
        );
    }

    #[test]
    fn bad_lines_name_the_place_and_a_missing_file_fails() {
        let path = Path::new("/proc/cgroups");
        let header = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n";
        let err = parse_cgroups(&format!("{header}cpu\t0\t1\n"), path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/cgroups:2: 4+ fields required, found 3"
        );
        let err = parse_cgroups(&format!("{header}cpu\t0\tx\t1\n"), path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/cgroups:2: num_cgroups: not a number: \"x\""
        );
        let text = format!("{header}cpu 0 12 1 extra\n");
        let ok = parse_cgroups(&text, path).unwrap();
        assert_eq!(
            ok,
            [CgroupSummary {
                subsys_name: "cpu",
                cgroups: 12,
                enabled: 1
            }]
        );
        assert!(parse_cgroups("", path).unwrap().is_empty());
        let root = tempfile::tempdir().unwrap();
        let mut out = MetricSet::new();
        let err = Cgroups::new(&Paths::under(root.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
    }
}
