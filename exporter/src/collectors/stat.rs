//! `/proc/stat`: the parser shared with the `cpu` collector, and the `stat` collector
//! (boot time, context switches, forks, interrupts, running and blocked processes, and
//! with `--collector.stat.softirq` `node_softirqs_total{vector}` from the `softirq` line).

use std::path::{Path, PathBuf};

use clap::Arg;

use crate::collector::{switch_args, Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::parse_field;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "stat",
    enabled_by_default: true,
    args,
    build: |ctx| {
        let mut stat = Stat::new(ctx.paths);
        stat.softirqs = ctx.switch(SOFTIRQ_FLAG, false);
        Ok(Box::new(stat))
    },
};

const SOFTIRQ_FLAG: &str = "collector.stat.softirq";

fn args() -> Vec<Arg> {
    switch_args(SOFTIRQ_FLAG, "Export softirq calls per vector").into()
}

/// The vectors of the `softirq` line after its total, in the kernel's order.
pub const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// The per-vector counts of `/proc/stat`'s `softirq` line (None without one). Fewer
/// than the ten vectors node_exporter reads is an error naming the line.
pub fn parse_softirqs(text: &str, path: &Path) -> Result<Option<[f64; 10]>, CollectError> {
    let Some((index, line)) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.starts_with("softirq "))
    else {
        return Ok(None);
    };
    let mut fields = line.split_whitespace().skip(1);
    parse_field::<f64>(fields.next(), path, index + 1, "softirq total")?;
    let mut counts = [0.0; 10];
    for (count, vector) in counts.iter_mut().zip(SOFTIRQ_VECTORS) {
        *count = parse_field(fields.next(), path, index + 1, vector)?;
    }
    Ok(Some(counts))
}

/// Kernel ticks per second of `/proc/stat` (USER_HZ, fixed at 100 by the kernel ABI).
pub const USER_HZ: f64 = 100.0;

/// One `cpuN` line, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

/// The parts of `/proc/stat` we export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU times, keyed by the N of `cpuN`, in file order.
    pub cpus: Vec<(u32, CpuTimes)>,
    pub interrupts: Option<f64>,
    pub context_switches: Option<f64>,
    pub boot_time: Option<f64>,
    pub forks: Option<f64>,
    pub procs_running: Option<f64>,
    pub procs_blocked: Option<f64>,
}

pub fn parse_proc_stat(text: &str, path: &Path) -> Result<ProcStat, CollectError> {
    let mut stat = ProcStat::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let mut number = |what: &str| parse_field::<f64>(fields.next(), path, line_no, what);
        match key {
            "cpu" => {}
            "intr" => stat.interrupts = Some(number("intr")?),
            "ctxt" => stat.context_switches = Some(number("ctxt")?),
            "btime" => stat.boot_time = Some(number("btime")?),
            "processes" => stat.forks = Some(number("processes")?),
            "procs_running" => stat.procs_running = Some(number("procs_running")?),
            "procs_blocked" => stat.procs_blocked = Some(number("procs_blocked")?),
            _ => {
                if let Some(id) = key.strip_prefix("cpu") {
                    let id: u32 = id.parse().map_err(|_| {
                        CollectError::parse(path, line_no, format!("bad CPU line {key:?}"))
                    })?;
                    stat.cpus
                        .push((id, parse_cpu_times(fields, path, line_no)?));
                }
            }
        }
    }
    Ok(stat)
}

fn parse_cpu_times<'a>(
    mut fields: impl Iterator<Item = &'a str>,
    path: &Path,
    line: usize,
) -> Result<CpuTimes, CollectError> {
    let mut ticks = [0f64; 10];
    for (i, name) in [
        "user",
        "nice",
        "system",
        "idle",
        "iowait",
        "irq",
        "softirq",
        "steal",
        "guest",
        "guest_nice",
    ]
    .iter()
    .enumerate()
    {
        match fields.next() {
            Some(text) => {
                ticks[i] = parse_field::<u64>(Some(text), path, line, name)? as f64 / USER_HZ
            }
            // Old kernels have fewer columns; the first four always exist.
            None if i >= 4 => break,
            None => return Err(CollectError::parse(path, line, format!("missing {name}"))),
        }
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = ticks;
    Ok(CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    })
}

pub struct Stat {
    path: PathBuf,
    /// `--collector.stat.softirq`.
    softirqs: bool,
}

impl Stat {
    pub fn new(paths: &Paths) -> Self {
        Stat {
            path: paths.proc("stat"),
            softirqs: false,
        }
    }
}

impl Collector for Stat {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = sources.table(&self.path)?;
        let stat = parse_proc_stat(text, &self.path)?;
        let softirqs = if self.softirqs {
            parse_softirqs(text, &self.path)?
        } else {
            None
        };
        let missing = |what: &str| CollectError::parse(&self.path, 0, format!("no {what} line"));
        out.counter(
            "node_intr_total",
            "Total number of interrupts serviced.",
            &[],
            stat.interrupts.ok_or_else(|| missing("intr"))?,
        );
        out.counter(
            "node_context_switches_total",
            "Total number of context switches.",
            &[],
            stat.context_switches.ok_or_else(|| missing("ctxt"))?,
        );
        out.gauge(
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            &[],
            stat.boot_time.ok_or_else(|| missing("btime"))?,
        );
        out.counter(
            "node_forks_total",
            "Total number of forks.",
            &[],
            stat.forks.ok_or_else(|| missing("processes"))?,
        );
        out.gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
            &[],
            stat.procs_running.ok_or_else(|| missing("procs_running"))?,
        );
        out.gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            &[],
            stat.procs_blocked.ok_or_else(|| missing("procs_blocked"))?,
        );
        if let Some(counts) = softirqs {
            // node_exporter's order: by vector name.
            let mut vectors: Vec<(&str, f64)> = SOFTIRQ_VECTORS.into_iter().zip(counts).collect();
            vectors.sort_by(|a, b| a.0.cmp(b.0));
            let family = out.family(
                "node_softirqs_total",
                "Number of softirq calls.",
                edge_common::exposition::MetricKind::Counter,
            );
            for (vector, count) in vectors {
                family.push(&[("vector", vector)], count);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "cpu  10 20 30 40 50 60 70 80 90 100\n\
cpu0 100 200 300 400 500 600 700 800 900 1000\n\
cpu3 1 2 3 4\n\
intr 12345 1 2 3\n\
ctxt 678\n\
btime 1700000000\n\
processes 42\n\
procs_running 3\n\
procs_blocked 1\n\
softirq 5 1 1 1\n";

    #[test]
    fn parses_cpus_and_counters() {
        let stat = parse_proc_stat(TEXT, Path::new("stat")).unwrap();
        assert_eq!(stat.cpus.len(), 2);
        assert_eq!(stat.cpus[0].0, 0);
        assert_eq!(stat.cpus[0].1.user, 1.0);
        assert_eq!(stat.cpus[0].1.guest_nice, 10.0);
        assert_eq!(stat.cpus[1].0, 3);
        assert_eq!(stat.cpus[1].1.idle, 0.04);
        assert_eq!(stat.cpus[1].1.steal, 0.0);
        assert_eq!(stat.interrupts, Some(12345.0));
        assert_eq!(stat.boot_time, Some(1700000000.0));
        assert_eq!(stat.forks, Some(42.0));
    }

    #[test]
    fn rejects_bad_lines_with_their_place() {
        let err = parse_proc_stat("cpu0 1 2 x 4\n", Path::new("stat")).unwrap_err();
        assert_eq!(err.to_string(), "stat:1: system: not a number: \"x\"");
        let err = parse_proc_stat("cpu 1\ncpux 1 2 3 4\n", Path::new("stat")).unwrap_err();
        assert_eq!(err.to_string(), "stat:2: bad CPU line \"cpux\"");
        let err = parse_proc_stat("cpu0 1 2\n", Path::new("stat")).unwrap_err();
        assert_eq!(err.to_string(), "stat:1: missing system");
    }

    #[test]
    fn softirqs_per_vector_with_the_flag() {
        let paths = crate::test_support::fixture_paths();
        let scrape = |stat: &mut Stat| {
            let mut out = MetricSet::new();
            stat.update(&mut Sources::default(), &mut out).unwrap();
            out
        };
        let mut stat = Stat::new(&paths);
        assert!(
            scrape(&mut stat).get("node_softirqs_total").is_none(),
            "off by default"
        );
        stat.softirqs = true;
        let out = scrape(&mut stat);
        let family = out.get("node_softirqs_total").unwrap();
        assert_eq!(family.help, "Number of softirq calls.");
        let listed: Vec<(String, f64)> = family
            .samples()
            .into_iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        // proc/stat: softirq 12496 11 2222 33 444 55 0 66 777 0 8888, sorted by vector.
        let expected = [
            ("block", 55.0),
            ("block_iopoll", 0.0),
            ("hi", 11.0),
            ("hrtimer", 0.0),
            ("net_rx", 444.0),
            ("net_tx", 33.0),
            ("rcu", 8888.0),
            ("sched", 777.0),
            ("tasklet", 66.0),
            ("timer", 2222.0),
        ];
        assert_eq!(listed, expected.map(|(v, n)| (v.to_string(), n)).to_vec());
        let err = parse_softirqs(TEXT, Path::new("stat")).unwrap_err();
        assert_eq!(err.to_string(), "stat:10: missing net_rx");
        assert_eq!(parse_softirqs("cpu 1\n", Path::new("stat")).unwrap(), None);
    }

    #[test]
    fn a_missing_line_fails_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu0 1 2 3 4\nctxt 5\n").unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let err = Stat::new(&paths)
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().ends_with(":0: no intr line"), "{err}");
    }
}
