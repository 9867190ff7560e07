//! `node_softnet_*{cpu}` from `<procfs>/net/softnet_stat`: one line per online CPU of
//! hexadecimal 32-bit columns.
//!
//! The columns grew with the kernel, and node_exporter (through procfs) reads what a
//! line has: processed, dropped, time_squeeze (columns 1–3) and cpu_collision (9) since
//! 2.6.23, received_rps (10) since 2.6.39, flow_limit_count (11) since 4.18, backlog
//! length (12) and the CPU id (13) since 5.14; later columns are ignored. Every family
//! is exported on every kernel, as 0 where the line is too short.
//!
//! The `cpu` label is column 13, the id of the CPU that owns the line — not the line
//! number: offline CPUs have no line, so on a machine with CPU 1 offline the lines are
//! CPUs 0, 2, 3. Only kernels without that column get the line number instead.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "softnet",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Softnet::new(ctx.paths))),
};

pub struct Softnet {
    path: PathBuf,
}

impl Softnet {
    pub fn new(paths: &Paths) -> Self {
        Softnet {
            path: paths.proc("net/softnet_stat"),
        }
    }
}

/// The fewest columns a line may have (Linux 2.6.23).
const MIN_COLUMNS: usize = 9;

/// One line of softnet_stat.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SoftnetLine {
    pub processed: u32,
    pub dropped: u32,
    pub time_squeezed: u32,
    pub cpu_collision: u32,
    pub received_rps: u32,
    pub flow_limit_count: u32,
    pub backlog_len: u32,
    /// The owning CPU's id (column 13), or the line's index on older kernels.
    pub cpu: u32,
}

pub fn parse_softnet(text: &str, path: &Path) -> Result<Vec<SoftnetLine>, CollectError> {
    let mut lines = Vec::with_capacity(8);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let mut columns = [0u32; 13];
        let mut width = 0;
        for (i, text) in line.split_whitespace().enumerate() {
            width += 1;
            if i < columns.len() {
                columns[i] = u32::from_str_radix(text, 16).map_err(|_| {
                    CollectError::parse(
                        path,
                        line_no,
                        format!("column {}: not a 32-bit hex number: {text:?}", i + 1),
                    )
                })?;
            }
        }
        if width < MIN_COLUMNS {
            return Err(CollectError::parse(
                path,
                line_no,
                format!("{width} columns, at least {MIN_COLUMNS} expected"),
            ));
        }
        lines.push(SoftnetLine {
            processed: columns[0],
            dropped: columns[1],
            time_squeezed: columns[2],
            cpu_collision: columns[8],
            received_rps: columns[9],
            flow_limit_count: columns[10],
            backlog_len: if width >= 13 { columns[11] } else { 0 },
            cpu: if width >= 13 {
                columns[12]
            } else {
                u32::try_from(index).unwrap_or(u32::MAX)
            },
        });
    }
    Ok(lines)
}

type Field = fn(&SoftnetLine) -> u32;

/// name, help, type, column — in node_exporter's order.
const FAMILIES: [(&str, &str, MetricKind, Field); 7] = [
    (
        "node_softnet_processed_total",
        "Number of processed packets",
        MetricKind::Counter,
        |l| l.processed,
    ),
    (
        "node_softnet_dropped_total",
        "Number of dropped packets",
        MetricKind::Counter,
        |l| l.dropped,
    ),
    (
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
        MetricKind::Counter,
        |l| l.time_squeezed,
    ),
    (
        "node_softnet_cpu_collision_total",
        "Number of collision occur while obtaining device lock while transmitting",
        MetricKind::Counter,
        |l| l.cpu_collision,
    ),
    (
        "node_softnet_received_rps_total",
        "Number of times cpu woken up received_rps",
        MetricKind::Counter,
        |l| l.received_rps,
    ),
    (
        "node_softnet_flow_limit_count_total",
        "Number of times flow limit has been reached",
        MetricKind::Counter,
        |l| l.flow_limit_count,
    ),
    (
        "node_softnet_backlog_len",
        "Softnet backlog status",
        MetricKind::Gauge,
        |l| l.backlog_len,
    ),
];

/// Records the lines' series in the order node_exporter's registry writes them: by the
/// `cpu` label as text, so CPU 10 comes before CPU 2.
pub fn record(lines: &[SoftnetLine], out: &mut MetricSet) {
    let mut labelled: Vec<(String, &SoftnetLine)> =
        lines.iter().map(|l| (l.cpu.to_string(), l)).collect();
    labelled.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, help, kind, field) in FAMILIES {
        let family = out.family(name, help, kind);
        for (cpu, line) in &labelled {
            family.push(&[("cpu", cpu)], f64::from(field(line)));
        }
    }
}

impl Collector for Softnet {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_table_string(&self.path)?;
        record(&parse_softnet(&text, &self.path)?, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Softnet::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn every_family_on_the_fixture_machine() {
        let set = scrape(&fixture_paths()).unwrap();
        // Per CPU N (0..3) the fixture holds distinct values in every column:
        // processed 0x1a2b00 + 0x101·N, … (see README-net-procfs.md).
        let per_cpu: [[f64; 7]; 4] = [
            [1714944.0, 16.0, 161.0, 2.0, 4112.0, 3.0, 1.0],
            [1715201.0, 17.0, 162.0, 4.0, 4113.0, 5.0, 0.0],
            [1715458.0, 18.0, 163.0, 6.0, 4114.0, 7.0, 2.0],
            [1715715.0, 19.0, 164.0, 8.0, 4115.0, 9.0, 0.0],
        ];
        let mut expected = Vec::new();
        let mut order: Vec<usize> = (0..FAMILIES.len()).collect();
        order.sort_by_key(|&i| FAMILIES[i].0);
        for i in order {
            let (name, help, kind, _) = FAMILIES[i];
            expected.push(Line::Help(name.into(), help.into()));
            expected.push(Line::Type(name.into(), kind.as_str().into()));
            for (cpu, values) in per_cpu.iter().enumerate() {
                expected.push(Line::Sample(
                    name.into(),
                    vec![("cpu".into(), cpu.to_string())],
                    values[i],
                ));
            }
        }
        assert_eq!(rendered(&set, |n| n.starts_with("node_softnet_")), expected);
        assert_eq!(
            set.get("node_softnet_backlog_len").unwrap().kind,
            MetricKind::Gauge
        );
    }

    #[test]
    fn the_cpu_label_is_the_owning_cpu_not_the_line() {
        // CPU 1 offline: three lines, owners 0, 2, 3; 15 columns as in kernels ≥ 6.2.
        let text = "\
00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00000020 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000
00000030 00000000 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000000 00000000
";
        let lines = parse_softnet(text, Path::new("softnet_stat")).unwrap();
        let cpus: Vec<u32> = lines.iter().map(|l| l.cpu).collect();
        assert_eq!(cpus, [0, 2, 3]);
        assert_eq!(lines[1].processed, 0x20);
    }

    #[test]
    fn older_kernels_have_fewer_columns_and_line_numbers() {
        // 2.6.23 (9 columns), 2.6.39 (10), 4.18 (11): the missing ones are 0, and the
        // cpu label is the line's index.
        let text = "\
000000ff 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003
000000fe 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004
000000fd 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005
";
        let lines = parse_softnet(text, Path::new("softnet_stat")).unwrap();
        assert_eq!(
            lines[0],
            SoftnetLine {
                processed: 255,
                dropped: 1,
                time_squeezed: 2,
                cpu_collision: 3,
                cpu: 0,
                ..SoftnetLine::default()
            }
        );
        assert_eq!((lines[1].received_rps, lines[1].flow_limit_count), (4, 0));
        assert_eq!(
            (
                lines[2].received_rps,
                lines[2].flow_limit_count,
                lines[2].cpu
            ),
            (4, 5, 2)
        );
    }

    #[test]
    fn errors_name_the_place_and_absence_fails() {
        let p = Path::new("/proc/net/softnet_stat");
        let err = parse_softnet("00000001 00000002\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/softnet_stat:1: 2 columns, at least 9 expected"
        );
        let err = parse_softnet("0 0 0 0 0 0 0 0 0\n0 0 zz 0 0 0 0 0 0\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/softnet_stat:2: column 3: not a 32-bit hex number: \"zz\""
        );
        let err = parse_softnet("100000000 0 0 0 0 0 0 0 0\n", p).unwrap_err();
        assert!(err.to_string().contains("column 1"), "{err}");
        // node_exporter fails (no ErrNoData) when the file is missing.
        let dir = tempfile::tempdir().unwrap();
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
    }
}
