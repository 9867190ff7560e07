//! node_exporter's `processes` collector (off by default): how many processes and
//! threads the node has, by state, and the kernel's limits on both.
//!
//! Reads `<procfs>/[pid]/stat` of every process and `<procfs>/[pid]/task/[tid]/stat`
//! of every thread but the group leader (whose state is the process's, as
//! node_exporter counts it), then `<procfs>/sys/kernel/threads-max` and `pid_max`.
//! `node_processes_threads` is the sum of the processes' `num_threads` fields, so it
//! may differ from the sum of `node_processes_threads_state` when threads come and go
//! during the walk.
//!
//! As in node_exporter 1.12 (`collector/processes_linux.go`): a process or thread that
//! vanishes mid-walk (ENOENT or ESRCH) is skipped, any other failure fails the whole
//! collector. A stat line must have the 42 fields procfs's parser reads (kernel ≥
//! 2.6.18 writes them), else the collector fails naming the file.
//!
//! Cost: one open and one read per process and per thread, into one reused buffer
//! and one reused path; beyond the directory entries themselves, nothing is
//! allocated per process except a state seen for the first time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "processes",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Processes::new(ctx.paths))),
};

/// A kernel stat line is about 300 bytes (comm is at most 64); a larger file is not
/// one and is refused.
const STAT_BYTES: usize = 4096;
/// Fields after `comm` that procfs's parser reads (state … delayacct_blkio_ticks).
const STAT_FIELDS_AFTER_COMM: usize = 40;
/// `num_threads` is field 20 of the line, the 18th after `comm`.
const NUM_THREADS_INDEX: usize = 17;

pub struct Processes {
    procfs: PathBuf,
    threads_max: PathBuf,
    pid_max: PathBuf,
    buf: Vec<u8>,
}

/// What one walk over `/proc` counted.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessCounts {
    pub pids: u64,
    /// The sum of the processes' `num_threads`.
    pub threads: i64,
    pub states: BTreeMap<String, u64>,
    pub thread_states: BTreeMap<String, u64>,
}

/// The fields of a stat line this collector uses.
#[derive(Debug, PartialEq)]
pub struct StatLine<'a> {
    pub state: &'a str,
    pub num_threads: i64,
}

impl Processes {
    pub fn new(paths: &Paths) -> Self {
        Processes {
            procfs: paths.procfs.clone(),
            threads_max: paths.proc("sys/kernel/threads-max"),
            pid_max: paths.proc("sys/kernel/pid_max"),
            buf: vec![0; STAT_BYTES],
        }
    }

    /// Walks every process and its threads.
    pub fn count(&mut self) -> Result<ProcessCounts, CollectError> {
        let mut counts = ProcessCounts::default();
        let entries =
            std::fs::read_dir(&self.procfs).map_err(|e| CollectError::read(&self.procfs, e))?;
        let mut path = self.procfs.clone();
        // The process's state, kept while `buf` is reused for its threads.
        let mut state = String::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.procfs, e))?;
            let name = entry.file_name();
            let Some(pid) = name.to_str().filter(|n| n.parse::<i64>().is_ok()) else {
                continue;
            };
            path.push(pid);
            path.push("stat");
            let stat = read_stat(&path, &mut self.buf)?;
            path.pop();
            let Some(len) = stat else {
                tracing::debug!(pid, "process vanished before its stat was read");
                path.pop();
                continue;
            };
            let line = parse_stat(&self.buf[..len], &path.join("stat"))?;
            counts.pids += 1;
            counts.threads = counts.threads.saturating_add(line.num_threads);
            add(&mut counts.states, line.state);
            state.clear();
            state.push_str(line.state);
            path.push("task");
            let result = self.count_threads(&mut path, pid, &state, &mut counts.thread_states);
            path.pop();
            path.pop();
            result?;
        }
        Ok(counts)
    }

    /// Adds the states of the threads in `task` (the path) of process `pid`; the
    /// leader (tid = pid) is counted with the process's `state`.
    fn count_threads(
        &mut self,
        task: &mut PathBuf,
        pid: &str,
        state: &str,
        thread_states: &mut BTreeMap<String, u64>,
    ) -> Result<(), CollectError> {
        let entries = match std::fs::read_dir(&*task) {
            Ok(entries) => entries,
            Err(e) if vanished(&e) => {
                tracing::debug!(pid, "process vanished before its threads were listed");
                return Ok(());
            }
            Err(e) => return Err(CollectError::read(task, e)),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if vanished(&e) => return Ok(()),
                Err(e) => return Err(CollectError::read(task, e)),
            };
            let name = entry.file_name();
            let Some(tid) = name.to_str().filter(|n| n.parse::<i64>().is_ok()) else {
                continue;
            };
            if tid == pid {
                add(thread_states, state);
                continue;
            }
            task.push(tid);
            task.push("stat");
            let stat = read_stat(task, &mut self.buf);
            let result = match stat {
                Ok(Some(len)) => parse_stat(&self.buf[..len], task).map(|line| {
                    add(thread_states, line.state);
                }),
                Ok(None) => {
                    tracing::debug!(pid, tid, "thread vanished before its stat was read");
                    Ok(())
                }
                Err(e) => Err(e),
            };
            task.pop();
            task.pop();
            result?;
        }
        Ok(())
    }
}

fn add(states: &mut BTreeMap<String, u64>, state: &str) {
    match states.get_mut(state) {
        Some(count) => *count += 1,
        None => {
            states.insert(state.to_owned(), 1);
        }
    }
}

/// ENOENT or ESRCH: the process or thread exited since it was listed.
fn vanished(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ESRCH)
}

/// Reads a stat file into `buf`: `Ok(None)` when it vanished, the length otherwise.
fn read_stat(path: &Path, buf: &mut [u8]) -> Result<Option<usize>, CollectError> {
    let read = File::open(path).and_then(|mut file| file.read(buf));
    match read {
        Ok(len) if len < buf.len() => Ok(Some(len)),
        Ok(_) => Err(CollectError::parse(
            path,
            1,
            format!("larger than {} bytes", buf.len() - 1),
        )),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(CollectError::read(path, e)),
    }
}

/// `<pid> (<comm>) <state> …`: `comm` may hold spaces and parentheses, so it runs to
/// the last `)`.
pub fn parse_stat<'a>(stat: &'a [u8], path: &Path) -> Result<StatLine<'a>, CollectError> {
    let close = stat
        .iter()
        .rposition(|&b| b == b')')
        .filter(|_| stat.contains(&b'('))
        .ok_or_else(|| CollectError::parse(path, 1, "no (comm) field"))?;
    let rest = std::str::from_utf8(&stat[close + 1..])
        .map_err(|_| CollectError::parse(path, 1, "not UTF-8 after comm"))?;
    let mut state = "";
    let mut num_threads = None;
    let mut fields = 0;
    for (index, field) in rest.split_ascii_whitespace().enumerate() {
        fields = index + 1;
        if index == 0 {
            state = field;
        } else if index == NUM_THREADS_INDEX {
            num_threads = field.parse::<i64>().ok();
            if num_threads.is_none() {
                return Err(CollectError::parse(
                    path,
                    1,
                    format!("num_threads: not a number: {field:?}"),
                ));
            }
        } else if field.parse::<i64>().is_err() && field.parse::<u64>().is_err() {
            return Err(CollectError::parse(
                path,
                1,
                format!("field {}: not a number: {field:?}", index + 3),
            ));
        }
        if fields == STAT_FIELDS_AFTER_COMM {
            break;
        }
    }
    match num_threads {
        Some(num_threads) if fields == STAT_FIELDS_AFTER_COMM => {
            Ok(StatLine { state, num_threads })
        }
        _ => Err(CollectError::parse(
            path,
            1,
            format!(
                "{} fields after comm, expected at least {STAT_FIELDS_AFTER_COMM}",
                fields
            ),
        )),
    }
}

/// One unsigned number in a `/proc/sys` file.
fn read_limit(path: &Path) -> Result<u64, CollectError> {
    let text = read_attribute(path).map_err(|e| CollectError::read(path, e))?;
    text.parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not an unsigned integer: {text:?}")))
}

/// Writes node_exporter 1.12's six `node_processes_*` families.
pub fn record(counts: &ProcessCounts, threads_max: u64, pid_max: u64, out: &mut MetricSet) {
    out.gauge(
        "node_processes_threads",
        "Allocated threads in system",
        &[],
        counts.threads as f64,
    );
    out.gauge(
        "node_processes_max_threads",
        "Limit of threads in the system",
        &[],
        threads_max as f64,
    );
    let states = out.family(
        "node_processes_state",
        "Number of processes in each state.",
        MetricKind::Gauge,
    );
    for (state, count) in &counts.states {
        states.push(&[("state", state)], *count as f64);
    }
    let thread_states = out.family(
        "node_processes_threads_state",
        "Number of threads in each state.",
        MetricKind::Gauge,
    );
    for (state, count) in &counts.thread_states {
        thread_states.push(&[("thread_state", state)], *count as f64);
    }
    out.gauge(
        "node_processes_pids",
        "Number of PIDs",
        &[],
        counts.pids as f64,
    );
    out.gauge(
        "node_processes_max_processes",
        "Number of max PIDs limit",
        &[],
        pid_max as f64,
    );
}

impl Collector for Processes {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let counts = self.count()?;
        let threads_max = read_limit(&self.threads_max)?;
        let pid_max = read_limit(&self.pid_max)?;
        record(&counts, threads_max, pid_max, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered, Line};

    fn fixture_output() -> MetricSet {
        let mut collector = Processes::new(&fixture_paths());
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn counts_the_fixture_processes_and_threads() {
        let expected = "\
# HELP node_processes_max_processes Number of max PIDs limit
# TYPE node_processes_max_processes gauge
node_processes_max_processes 4.194304e+06
# HELP node_processes_max_threads Limit of threads in the system
# TYPE node_processes_max_threads gauge
node_processes_max_threads 127052
# HELP node_processes_pids Number of PIDs
# TYPE node_processes_pids gauge
node_processes_pids 10
# HELP node_processes_state Number of processes in each state.
# TYPE node_processes_state gauge
node_processes_state{state=\"D\"} 1
node_processes_state{state=\"I\"} 2
node_processes_state{state=\"R\"} 1
node_processes_state{state=\"S\"} 4
node_processes_state{state=\"Z\"} 1
node_processes_state{state=\"t\"} 1
# HELP node_processes_threads Allocated threads in system
# TYPE node_processes_threads gauge
node_processes_threads 18
# HELP node_processes_threads_state Number of threads in each state.
# TYPE node_processes_threads_state gauge
node_processes_threads_state{thread_state=\"D\"} 2
node_processes_threads_state{thread_state=\"I\"} 2
node_processes_threads_state{thread_state=\"R\"} 2
node_processes_threads_state{thread_state=\"S\"} 7
node_processes_threads_state{thread_state=\"Z\"} 1
node_processes_threads_state{thread_state=\"t\"} 2
";
        // Rendered families come sorted by name, as node_exporter writes them.
        let ours: Vec<Line> = rendered(&fixture_output(), |_| true);
        assert_eq!(ours, parse_text(expected));
    }

    #[test]
    fn stat_lines_parse_to_the_last_paren() {
        let p = Path::new("/proc/9/stat");
        let mut line = String::from("9 (a) (b) c) R");
        for field in 4..=42 {
            line.push_str(&format!(
                " {}",
                if field == 20 { 6 } else { -(field as i64) }
            ));
        }
        assert_eq!(
            parse_stat(line.as_bytes(), p).unwrap(),
            StatLine {
                state: "R",
                num_threads: 6
            }
        );
        // One field short of what procfs reads.
        let short = &line[..line.rfind(' ').unwrap()];
        let err = parse_stat(short.as_bytes(), p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/9/stat:1: 39 fields after comm, expected at least 40"
        );
        let err = parse_stat(line.replace(" 6 ", " six ").as_bytes(), p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/9/stat:1: num_threads: not a number: \"six\""
        );
        let err = parse_stat(b"9 no comm R 1", p).unwrap_err();
        assert_eq!(err.to_string(), "/proc/9/stat:1: no (comm) field");
    }

    #[test]
    fn a_bad_stat_fails_the_collector_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("5")).unwrap();
        std::fs::write(dir.path().join("5/stat"), "5 (x) S 1 2\n").unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let err = Processes::new(&paths).count().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("/5/stat:1: 3 fields after comm, expected at least 40"),
            "{err}"
        );
    }

    #[test]
    fn missing_limits_fail_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let mut out = MetricSet::new();
        let err = Processes::new(&paths)
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("sys/kernel/threads-max"), "{err}");
        let mut collector = Processes::new(&paths);
        assert_eq!(collector.count().unwrap(), ProcessCounts::default());
    }

    #[test]
    fn counts_live_processes() {
        // This machine's own /proc: at least this process and its threads.
        let counts = Processes::new(&Paths::default()).count().unwrap();
        assert!(counts.pids >= 1 && counts.threads >= 1, "{counts:?}");
        assert!(counts.thread_states.values().sum::<u64>() >= 1);
    }
}
