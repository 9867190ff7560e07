//! `node_schedstat_{running,waiting}_seconds_total{cpu}` and
//! `node_schedstat_timeslices_total{cpu}` from the `cpuN` lines of `<procfs>/schedstat`.
//!
//! Fields 7–9 after `cpuN` are the time spent running and waiting (nanoseconds since
//! CFS, whatever the kernel documentation says) and the timeslices run. Lines that are
//! not a `cpuN` line with at least nine numbers are ignored, as procfs's regex does; a
//! kernel without CONFIG_SCHEDSTATS has no file, which is "no data".

use std::io;
use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "schedstat",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(SchedStat::new(ctx.paths))),
};

const NANOSECONDS_PER_SECOND: f64 = 1e9;

pub struct SchedStat {
    path: PathBuf,
}

impl SchedStat {
    pub fn new(paths: &Paths) -> Self {
        SchedStat {
            path: paths.proc("schedstat"),
        }
    }
}

/// One `cpuN` line.
#[derive(Debug, PartialEq)]
pub struct CpuSchedStat<'a> {
    pub cpu: &'a str,
    pub running_ns: u64,
    pub waiting_ns: u64,
    pub timeslices: u64,
}

/// The `cpuN` lines of `/proc/schedstat`; other lines are skipped.
pub fn parse_schedstat(text: &str) -> Vec<CpuSchedStat<'_>> {
    text.lines().filter_map(parse_cpu_line).collect()
}

fn parse_cpu_line(line: &str) -> Option<CpuSchedStat<'_>> {
    let mut words = line.split(' ');
    let cpu = words.next()?.strip_prefix("cpu")?;
    if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut fields = [0u64; 9];
    for field in &mut fields {
        let word = words.next()?;
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *field = word.parse().ok()?;
    }
    Some(CpuSchedStat {
        cpu,
        running_ns: fields[6],
        waiting_ns: fields[7],
        timeslices: fields[8],
    })
}

impl Collector for SchedStat {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = match read_table_string(&self.path) {
            Ok(text) => text,
            Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.path.display()
                )))
            }
            Err(e) => return Err(e),
        };
        let mut cpus = parse_schedstat(&text);
        // node_exporter's registry sorts by label value: cpu 10 before cpu 2.
        cpus.sort_by(|a, b| a.cpu.cmp(b.cpu));
        for cpu in cpus {
            let labels = [("cpu", cpu.cpu)];
            out.family(
                "node_schedstat_running_seconds_total",
                "Number of seconds CPU spent running a process.",
                MetricKind::Counter,
            )
            .push(&labels, cpu.running_ns as f64 / NANOSECONDS_PER_SECOND);
            out.family(
                "node_schedstat_waiting_seconds_total",
                "Number of seconds spent by processing waiting for this CPU.",
                MetricKind::Counter,
            )
            .push(&labels, cpu.waiting_ns as f64 / NANOSECONDS_PER_SECOND);
            out.family(
                "node_schedstat_timeslices_total",
                "Number of timeslices executed by CPU.",
                MetricKind::Counter,
            )
            .push(&labels, cpu.timeslices as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    #[test]
    fn every_cpu_of_the_fixture() {
        let mut out = MetricSet::new();
        SchedStat::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let lines = rendered(&out, |_| true);
        let running = "node_schedstat_running_seconds_total";
        let waiting = "node_schedstat_waiting_seconds_total";
        let slices = "node_schedstat_timeslices_total";
        let sample = |name: &str, cpu: &str, value: f64| {
            Line::Sample(name.into(), vec![("cpu".into(), cpu.into())], value)
        };
        let mut expected = vec![
            Line::Help(
                running.into(),
                "Number of seconds CPU spent running a process.".into(),
            ),
            Line::Type(running.into(), "counter".into()),
            sample(running, "0", 2019.283746551),
            sample(running, "1", 2031.92837461),
            sample(running, "2", 1987.364512983),
            sample(running, "3", 2004.918273645),
            Line::Help(
                slices.into(),
                "Number of timeslices executed by CPU.".into(),
            ),
            Line::Type(slices.into(), "counter".into()),
            sample(slices, "0", 41827364.0),
            sample(slices, "1", 39182736.0),
            sample(slices, "2", 40273645.0),
            sample(slices, "3", 38918273.0),
            Line::Help(
                waiting.into(),
                "Number of seconds spent by processing waiting for this CPU.".into(),
            ),
            Line::Type(waiting.into(), "counter".into()),
            sample(waiting, "0", 318.273645123),
            sample(waiting, "1", 297.364518274),
            sample(waiting, "2", 305.182736491),
            sample(waiting, "3", 289.273645102),
        ];
        let key = |l: &Line| format!("{} {l:?}", l.family());
        expected.sort_by_key(key);
        let mut lines = lines;
        lines.sort_by_key(key);
        assert_eq!(lines, expected);
    }

    #[test]
    fn other_and_short_lines_are_skipped() {
        let text = "version 15\ntimestamp 1\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3\ncpux 1 2 3 4 5 6 7 8 9\ndomain0 3 1 2 3 4 5 6 7 8 9\ncpu2 1 2 3 4 5 6 7 8 x\n";
        assert_eq!(
            parse_schedstat(text),
            vec![CpuSchedStat {
                cpu: "0",
                running_ns: 7,
                waiting_ns: 8,
                timeslices: 9
            }]
        );
    }

    #[test]
    fn cpus_come_in_label_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        let text: String = (0..12)
            .map(|n| format!("cpu{n} 0 0 0 0 0 0 {n} 0 0\n"))
            .collect();
        std::fs::write(dir.path().join("proc/schedstat"), text).unwrap();
        let mut out = MetricSet::new();
        SchedStat::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let cpus: Vec<String> = rendered(&out, |n| n == "node_schedstat_timeslices_total")
            .into_iter()
            .filter_map(|l| match l {
                Line::Sample(_, labels, _) => Some(labels[0].1.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            cpus,
            ["0", "1", "10", "11", "2", "3", "4", "5", "6", "7", "8", "9"]
        );
    }

    #[test]
    fn no_file_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let err = SchedStat::new(&Paths::under(dir.path()))
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
    }
}
