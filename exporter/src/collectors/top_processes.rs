//! Top processes: which processes use this node's CPU and memory right now, as
//! `edge_process_*` families (node_exporter has no equivalent; its `processes`
//! collector, which counts processes and threads by state, is `processes.rs`).
//! Named `top_processes` so `--collector.processes` means what it means to
//! node_exporter.
//!
//! A background sampler reads `<procfs>/[pid]/stat` of every process each
//! `--collector.top_processes.interval`, so every scraper (Prometheus, vmagent, the
//! master) sees the same window and a scrape costs no /proc walk. It publishes the
//! top `--collector.top_processes.top` processes by CPU over the last window and the top
//! N by resident memory (their union): at most 2N processes per scrape, so the
//! series do not churn with every short-lived pid on the node.
//!
//! Kernel threads are left out; processes that exit between listing and reading, or
//! whose `/proc/[pid]` is hidden (`hidepid`), are skipped and counted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Arg;
use procfs::FromRead;

use super::meminfo::parse_meminfo;
use super::stat::parse_proc_stat;
use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::duration::parse_go_duration;
use edge_common::exposition::{MetricKind, MetricSet};
use edge_common::redact::CmdlinePolicy;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "top_processes",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(TopProcessCollector::build(ctx)?)),
};

const INTERVAL_FLAG: &str = "collector.top_processes.interval";
const TOP_FLAG: &str = "collector.top_processes.top";
const CMDLINE_FLAG: &str = "collector.top_processes.cmdline";

fn args() -> Vec<Arg> {
    vec![
        Arg::new(INTERVAL_FLAG)
            .long(INTERVAL_FLAG)
            .default_value("5s")
            .help("How often the process sampler reads /proc; CPU usage is measured over this window (e.g. 5s, 1m)."),
        Arg::new(TOP_FLAG)
            .long(TOP_FLAG)
            .default_value("10")
            .help("How many processes to report by CPU and by resident memory (the union is reported: at most twice this many)."),
        Arg::new(CMDLINE_FLAG)
            .long(CMDLINE_FLAG)
            .default_value("redact")
            .value_parser(CmdlinePolicy::NAMES)
            .help("Command lines in edge_process_info: redact (values of options and variables named like password, secret, token, key, credential, auth, and URL passwords, shown as ***), drop (none), or full."),
    ]
}

/// `PF_KTHREAD` in the flags field of `/proc/[pid]/stat`.
const PF_KTHREAD: u32 = 0x0020_0000;
/// Longest cmdline label value, in bytes.
const CMDLINE_BYTES: usize = 256;
/// `/proc/[pid]/stat` is well under this; a larger one is refused.
const STAT_BYTES: usize = 4096;
/// The states exported as `edge_process_state{state}` (a state set: one is 1).
const STATES: [char; 5] = ['R', 'S', 'D', 'Z', 'T'];

/// One reported process.
#[derive(Debug, Clone, PartialEq)]
pub struct TopProcess {
    pub pid: i32,
    pub comm: String,
    pub cmdline: String,
    pub user: String,
    pub state: char,
    /// CPU time over the window, in cores (1.0 = one core busy); `None` in the first
    /// window of a process that existed before the previous sample.
    pub cpu_ratio: Option<f64>,
    pub resident_bytes: f64,
    pub memory_ratio: Option<f64>,
    pub threads: f64,
    pub start_time_seconds: f64,
}

/// What the sampler published last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopProcesses {
    pub processes: Vec<TopProcess>,
    /// Length of the window CPU usage is measured over; 0 before the second sample.
    pub window_seconds: f64,
    pub sampled: usize,
    /// Listed in /proc but not readable (hidepid, permissions) or gone mid-read.
    pub unreadable: usize,
    pub timestamp_seconds: f64,
    pub duration_seconds: f64,
}

/// One process as read from its stat file.
#[derive(Debug, Clone)]
struct StatRecord {
    pid: i32,
    comm: String,
    state: char,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    start_ticks: u64,
    resident_bytes: u64,
    threads: i64,
}

/// Reads `/proc` and keeps what the CPU-rate computation needs from the last sample.
pub struct ProcessSampler {
    procfs: PathBuf,
    top: usize,
    cmdline: CmdlinePolicy,
    ticks_per_second: f64,
    page_size: u64,
    boot_time: f64,
    users: UserNames,
    /// CPU ticks per (pid, start time) at the previous sample: a reused pid is a new
    /// process.
    previous: HashMap<(i32, u64), u64>,
    previous_at: Option<Instant>,
    buf: Vec<u8>,
}

impl ProcessSampler {
    pub fn new(paths: &Paths, top: usize, cmdline: CmdlinePolicy) -> Result<Self, CollectError> {
        let stat_path = paths.proc("stat");
        let stat = parse_proc_stat(&read_table_string(&stat_path)?, &stat_path)?;
        let boot_time = stat
            .boot_time
            .ok_or_else(|| CollectError::parse(&stat_path, 0, "no btime line"))?;
        Ok(ProcessSampler {
            procfs: paths.procfs.clone(),
            top,
            cmdline,
            ticks_per_second: procfs::ticks_per_second() as f64,
            page_size: procfs::page_size(),
            boot_time,
            users: UserNames::new(paths.rootfs_path("/etc/passwd")),
            previous: HashMap::new(),
            previous_at: None,
            buf: vec![0; STAT_BYTES],
        })
    }

    /// Reads every process and picks the top ones.
    pub fn sample(&mut self) -> Result<TopProcesses, CollectError> {
        let started = Instant::now();
        let entries =
            std::fs::read_dir(&self.procfs).map_err(|e| CollectError::read(&self.procfs, e))?;
        let mut records = Vec::new();
        let mut unreadable = 0;
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            match self.read_stat(pid) {
                Some(Ok(record)) => records.push(record),
                Some(Err(())) => unreadable += 1,
                // A kernel thread.
                None => {}
            }
        }
        let window = self
            .previous_at
            .map(|at| started.duration_since(at).as_secs_f64());
        let mut current = HashMap::with_capacity(records.len());
        let mut cpu: Vec<Option<f64>> = Vec::with_capacity(records.len());
        for record in &records {
            let key = (record.pid, record.start_ticks);
            current.insert(key, record.cpu_ticks);
            cpu.push(window.and_then(|window| {
                let before = match self.previous.get(&key) {
                    Some(before) => *before,
                    // Started during the window: all of its CPU time is in it.
                    None if self.started_within(record, window) => 0,
                    None => return None,
                };
                let ticks = record.cpu_ticks.saturating_sub(before) as f64;
                Some(ticks / self.ticks_per_second / window)
            }));
        }
        self.previous = current;
        self.previous_at = Some(started);

        let selected = select_top(&records, &cpu, self.top);
        let mem_total = self.mem_total();
        let mut processes = Vec::with_capacity(selected.len());
        for index in selected {
            let record = &records[index];
            let process_dir = self.procfs.join(record.pid.to_string());
            // The process may have exited since: then it is simply not reported.
            let Ok(metadata) = std::fs::metadata(&process_dir) else {
                continue;
            };
            processes.push(TopProcess {
                pid: record.pid,
                comm: record.comm.clone(),
                cmdline: read_cmdline(&process_dir.join("cmdline"), self.cmdline),
                user: self.users.name(metadata.uid()),
                state: record.state,
                cpu_ratio: cpu[index],
                resident_bytes: record.resident_bytes as f64,
                memory_ratio: mem_total
                    .filter(|total| *total > 0.0)
                    .map(|total| record.resident_bytes as f64 / total),
                threads: record.threads as f64,
                start_time_seconds: self.boot_time
                    + record.start_ticks as f64 / self.ticks_per_second,
            });
        }
        Ok(TopProcesses {
            processes,
            window_seconds: window.unwrap_or(0.0),
            sampled: records.len(),
            unreadable,
            timestamp_seconds: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            duration_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// `None` for a kernel thread, `Err` for a process that cannot be read.
    fn read_stat(&mut self, pid: i32) -> Option<Result<StatRecord, ()>> {
        let path = self.procfs.join(pid.to_string()).join("stat");
        let read = File::open(&path).and_then(|mut file| file.read(&mut self.buf));
        let len = match read {
            Ok(len) if len < self.buf.len() => len,
            _ => return Some(Err(())),
        };
        if !is_kernel_shaped_stat(&self.buf[..len]) {
            tracing::debug!(path = %path.display(), "process stat not in the kernel's shape");
            return Some(Err(()));
        }
        let stat = match procfs::process::Stat::from_read(&self.buf[..len]) {
            Ok(stat) => stat,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "unreadable process stat");
                return Some(Err(()));
            }
        };
        if stat.flags & PF_KTHREAD != 0 {
            return None;
        }
        Some(Ok(StatRecord {
            pid: stat.pid,
            comm: stat.comm,
            state: stat.state,
            cpu_ticks: stat.utime.saturating_add(stat.stime),
            start_ticks: stat.starttime,
            resident_bytes: stat.rss.saturating_mul(self.page_size),
            threads: stat.num_threads,
        }))
    }

    /// Whether a process without a previous sample started inside the last window.
    fn started_within(&self, record: &StatRecord, window: f64) -> bool {
        let started = self.boot_time + record.start_ticks as f64 / self.ticks_per_second;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        started >= now - window
    }

    fn mem_total(&self) -> Option<f64> {
        let path = self.procfs.join("meminfo");
        let text = read_table_string(&path).ok()?;
        parse_meminfo(&text, &path)
            .ok()?
            .into_iter()
            .find(|field| field.name == "MemTotal_bytes")
            .map(|field| field.value)
    }
}

/// Indexes of the top `n` by CPU (those with a rate) and the top `n` by resident
/// memory, without repeats, ordered by CPU then memory, highest first.
fn select_top(records: &[StatRecord], cpu: &[Option<f64>], n: usize) -> Vec<usize> {
    let mut by_cpu: Vec<usize> = (0..records.len()).filter(|&i| cpu[i].is_some()).collect();
    by_cpu.sort_by(|&a, &b| {
        cpu[b]
            .partial_cmp(&cpu[a])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(records[b].resident_bytes.cmp(&records[a].resident_bytes))
    });
    let mut by_memory: Vec<usize> = (0..records.len()).collect();
    by_memory.sort_by(|&a, &b| records[b].resident_bytes.cmp(&records[a].resident_bytes));
    let mut selected: Vec<usize> = by_cpu.into_iter().take(n).collect();
    for index in by_memory.into_iter().take(n) {
        if !selected.contains(&index) {
            selected.push(index);
        }
    }
    selected
}

/// Whether `stat` has the shape the kernel writes: `<pid> (<comm>) <state> …`.
/// procfs-core's parser panics on some other shapes (a `(` first, nothing after the
/// last `)`), and `--path.procfs` may point anywhere; found by `fuzz/` (procfs).
fn is_kernel_shaped_stat(stat: &[u8]) -> bool {
    let digits = stat.iter().take_while(|b| b.is_ascii_digit()).count();
    let (Some(open), Some(close)) = (
        stat.iter().position(|&b| b == b'('),
        stat.iter().rposition(|&b| b == b')'),
    ) else {
        return false;
    };
    digits > 0
        && open == digits + 1
        && stat.get(digits) == Some(&b' ')
        && close > open
        && stat.get(close + 1) == Some(&b' ')
        && stat.get(close + 2).is_some_and(u8::is_ascii_alphabetic)
}

/// The command line as a label value: arguments joined by spaces, control characters
/// replaced, shown as `policy` says (secrets hidden before the cut, so a cut cannot
/// leave half a secret), cut at [`CMDLINE_BYTES`] on a character boundary. Empty for a
/// zombie.
fn read_cmdline(path: &Path, policy: CmdlinePolicy) -> String {
    if policy == CmdlinePolicy::Drop {
        return String::new();
    }
    let mut buf = [0u8; 4 * CMDLINE_BYTES];
    let len = File::open(path)
        .and_then(|mut file| file.read(&mut buf))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..len]);
    let mut cmdline: String = text
        .trim_end_matches('\0')
        .chars()
        .map(|c| if c == '\0' || c.is_control() { ' ' } else { c })
        .collect();
    if let Cow::Owned(redacted) = policy.show(&cmdline) {
        cmdline = redacted;
    }
    if cmdline.len() > CMDLINE_BYTES {
        let mut end = CMDLINE_BYTES;
        while !cmdline.is_char_boundary(end) {
            end -= 1;
        }
        cmdline.truncate(end);
    }
    cmdline
}

/// User names from the host's `/etc/passwd` (through rootfs), re-read when the file
/// changes; a uid without an entry is shown as its number.
struct UserNames {
    path: PathBuf,
    loaded: Option<SystemTime>,
    names: HashMap<u32, String>,
}

impl UserNames {
    fn new(path: PathBuf) -> Self {
        UserNames {
            path,
            loaded: None,
            names: HashMap::new(),
        }
    }

    fn name(&mut self, uid: u32) -> String {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != self.loaded {
            self.names = match std::fs::read_to_string(&self.path) {
                Ok(text) => parse_passwd(&text, &self.path),
                Err(error) => {
                    tracing::debug!(path = %self.path.display(), %error, "no passwd file, users shown as uids");
                    HashMap::new()
                }
            };
            self.loaded = modified;
        }
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

/// `name:password:uid:…` lines; a line that cannot be read is logged with its place
/// and left out (the other users still resolve).
pub fn parse_passwd(text: &str, path: &Path) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        match (
            fields.next(),
            fields.next(),
            fields.next().map(str::parse::<u32>),
        ) {
            (Some(name), Some(_), Some(Ok(uid))) if !name.is_empty() => {
                // The first entry of a uid wins, as getpwuid returns it.
                names.entry(uid).or_insert_with(|| name.to_string());
            }
            _ => tracing::warn!(
                place = %format!("{}:{}", path.display(), index + 1),
                "skipping a passwd line that is not name:password:uid:…"
            ),
        }
    }
    names
}

/// The collector: serves what the sampler thread published last.
pub struct TopProcessCollector {
    latest: Arc<Mutex<Option<TopProcesses>>>,
    _sampler: SamplerThread,
}

impl TopProcessCollector {
    fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let interval_text = ctx.string(INTERVAL_FLAG).unwrap_or_default();
        let interval = parse_go_duration(&interval_text)
            .map_err(|m| ConfigError::new(format!("--{INTERVAL_FLAG}"), m))?;
        if interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                format!("--{INTERVAL_FLAG}"),
                format!("{interval_text:?}: must be at least 100ms"),
            ));
        }
        let top_text = ctx.string(TOP_FLAG).unwrap_or_default();
        let top: usize = top_text
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    format!("--{TOP_FLAG}"),
                    format!("{top_text:?}: must be a whole number from 1 to 1000"),
                )
            })?;
        let cmdline = ctx
            .string(CMDLINE_FLAG)
            .and_then(|text| CmdlinePolicy::parse(&text))
            .unwrap_or(CmdlinePolicy::Redact);
        let sampler = ProcessSampler::new(ctx.paths, top, cmdline)
            .map_err(|e| ConfigError::new("--path.procfs", e))?;
        Self::start(sampler, interval)
            .map_err(|e| ConfigError::new(format!("--{INTERVAL_FLAG}"), e))
    }

    /// Starts the sampler thread; the first sample is taken before this returns, so
    /// the first scrape already has the memory ranking.
    pub fn start(mut sampler: ProcessSampler, interval: Duration) -> std::io::Result<Self> {
        let latest = Arc::new(Mutex::new(None));
        publish(&latest, sampler.sample());
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let latest = Arc::clone(&latest);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("process-sampler".into())
                .spawn(move || loop {
                    let (stopped, wake) = &*stop;
                    let guard = lock(stopped);
                    let (guard, _) = wake
                        .wait_timeout_while(guard, interval, |stopped| !*stopped)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    publish(&latest, sampler.sample());
                })?
        };
        Ok(TopProcessCollector {
            latest,
            _sampler: SamplerThread {
                stop,
                thread: Some(thread),
            },
        })
    }

    /// What the sampler published last (for tests and callers that post-process).
    pub fn latest(&self) -> Option<TopProcesses> {
        lock(&self.latest).clone()
    }
}

fn publish(latest: &Mutex<Option<TopProcesses>>, sample: Result<TopProcesses, CollectError>) {
    match sample {
        Ok(top) => *lock(latest) = Some(top),
        // Keep nothing stale: a failed sample means no process families this time.
        Err(error) => {
            tracing::warn!(%error, "process sample failed");
            *lock(latest) = None;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops and joins the sampler thread when the collector is dropped.
struct SamplerThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Collector for TopProcessCollector {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let guard = lock(&self.latest);
        let Some(top) = guard.as_ref() else {
            return Err(CollectError::System {
                context: "process sampler".into(),
                source: std::io::Error::other("no sample (see the log)"),
            });
        };
        record(top, out);
        Ok(())
    }
}

/// Appends the families of a published sample.
pub fn record(top: &TopProcesses, out: &mut MetricSet) {
    use MetricKind::Gauge;
    out.gauge(
        "edge_processes_window_seconds",
        "Length of the window process CPU usage is measured over (0 until the sampler has two samples).",
        &[],
        top.window_seconds,
    );
    out.gauge(
        "edge_processes_sampled",
        "Processes read by the last sample (kernel threads excluded).",
        &[],
        top.sampled as f64,
    );
    out.gauge(
        "edge_processes_unreadable",
        "Processes listed in /proc whose stat could not be read by the last sample (exited, or hidden by hidepid).",
        &[],
        top.unreadable as f64,
    );
    out.gauge(
        "edge_processes_last_sample_timestamp_seconds",
        "When the last process sample was taken, in unixtime.",
        &[],
        top.timestamp_seconds,
    );
    out.gauge(
        "edge_processes_sample_duration_seconds",
        "How long the last process sample took.",
        &[],
        top.duration_seconds,
    );
    type Value = fn(&TopProcess) -> Option<f64>;
    let families: [(&str, &str, Value); 5] = [
        (
            "edge_process_cpu_ratio",
            "CPU used by the process over the sampling window, in cores (1 = one core busy).",
            |p| p.cpu_ratio,
        ),
        (
            "edge_process_resident_memory_bytes",
            "Resident memory of the process in bytes.",
            |p| Some(p.resident_bytes),
        ),
        (
            "edge_process_memory_ratio",
            "Resident memory of the process as a share of MemTotal.",
            |p| p.memory_ratio,
        ),
        ("edge_process_threads", "Threads of the process.", |p| {
            Some(p.threads)
        }),
        (
            "edge_process_start_time_seconds",
            "When the process started, in unixtime.",
            |p| Some(p.start_time_seconds),
        ),
    ];
    for (name, help, value) in families {
        let family = out.family(name, help, Gauge);
        for p in &top.processes {
            if let Some(value) = value(p) {
                let pid = p.pid.to_string();
                family.push(
                    &[("pid", &pid), ("comm", &p.comm), ("user", &p.user)],
                    value,
                );
            }
        }
    }
    let info = out.family(
        "edge_process_info",
        "A top process's command line, value is always 1.",
        Gauge,
    );
    for p in &top.processes {
        let pid = p.pid.to_string();
        info.push(
            &[
                ("pid", &pid),
                ("comm", &p.comm),
                ("user", &p.user),
                ("cmdline", &p.cmdline),
            ],
            1.0,
        );
    }
    let state = out.family(
        "edge_process_state",
        "The state of a top process as in /proc/[pid]/stat: 1 for the current one of R, S, D, Z, T.",
        Gauge,
    );
    for p in &top.processes {
        let pid = p.pid.to_string();
        let current = if p.state == 't' { 'T' } else { p.state };
        for s in STATES {
            let mut letter = [0u8; 4];
            state.push(
                &[
                    ("pid", &pid),
                    ("comm", &p.comm),
                    ("user", &p.user),
                    ("state", s.encode_utf8(&mut letter)),
                ],
                if s == current { 1.0 } else { 0.0 },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc with `stat`, `meminfo` and the given `pid -> stat line` entries.
    fn fake_procfs(processes: &[(i32, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu0 1 0 1 10\nbtime 1700000000\n").unwrap();
        std::fs::write(dir.path().join("meminfo"), "MemTotal: 1000 kB\n").unwrap();
        for (pid, stat) in processes {
            let process = dir.path().join(pid.to_string());
            std::fs::create_dir_all(&process).unwrap();
            std::fs::write(process.join("stat"), stat).unwrap();
            std::fs::write(process.join("cmdline"), format!("/bin/prog{pid}\0--flag\0")).unwrap();
        }
        dir
    }

    /// A stat line: pid (comm) state, flags, utime, stime, threads, starttime, rss pages.
    fn stat_line(pid: i32, comm: &str, flags: u32, utime: u64, starttime: u64, rss: u64) -> String {
        format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 {flags} 0 0 0 0 {utime} 0 0 0 20 0 3 0 {starttime} 1000000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    fn sampler(dir: &tempfile::TempDir, top: usize) -> ProcessSampler {
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        ProcessSampler::new(&paths, top, CmdlinePolicy::Redact).unwrap()
    }

    #[test]
    fn reads_processes_skips_kernel_threads_and_counts_unreadable() {
        let dir = fake_procfs(&[
            (100, stat_line(100, "web server", 0, 50, 1000, 25)),
            (2, stat_line(2, "kthreadd", PF_KTHREAD, 0, 1, 0)),
            (300, "garbage\n".to_string()),
        ]);
        let mut sampler = sampler(&dir, 10);
        let first = sampler.sample().unwrap();
        assert_eq!((first.sampled, first.unreadable), (1, 1));
        assert_eq!(first.window_seconds, 0.0);
        let process = &first.processes[0];
        let page = procfs::page_size() as f64;
        let hz = procfs::ticks_per_second() as f64;
        assert_eq!(process.pid, 100);
        assert_eq!(process.comm, "web server");
        assert_eq!(process.cmdline, "/bin/prog100 --flag");
        assert_eq!(process.state, 'S');
        assert_eq!(process.threads, 3.0);
        assert_eq!(process.resident_bytes, 25.0 * page);
        assert_eq!(process.memory_ratio, Some(25.0 * page / 1_024_000.0));
        assert_eq!(process.start_time_seconds, 1700000000.0 + 1000.0 / hz);
        // No rate before two samples.
        assert_eq!(process.cpu_ratio, None);
    }

    #[test]
    fn cpu_is_the_tick_delta_over_the_window_and_a_reused_pid_starts_over() {
        let dir = fake_procfs(&[(100, stat_line(100, "busy", 0, 50, 1000, 1))]);
        let mut sampler = sampler(&dir, 10);
        sampler.sample().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let stat = dir.path().join("100/stat");
        std::fs::write(&stat, stat_line(100, "busy", 0, 150, 1000, 1)).unwrap();
        let second = sampler.sample().unwrap();
        let hz = procfs::ticks_per_second() as f64;
        assert!(second.window_seconds >= 0.05);
        assert_eq!(
            second.processes[0].cpu_ratio,
            Some(100.0 / hz / second.window_seconds)
        );
        // Same pid, other start time (boot time + 1000 ticks is long ago): a new
        // process that existed before this window, so no rate yet, not a huge one.
        std::fs::write(&stat, stat_line(100, "other", 0, 5000, 2000, 1)).unwrap();
        let third = sampler.sample().unwrap();
        assert_eq!(third.processes[0].comm, "other");
        assert_eq!(third.processes[0].cpu_ratio, None);
    }

    #[test]
    fn reports_the_union_of_top_cpu_and_top_memory() {
        let records: Vec<StatRecord> = (0..6)
            .map(|i| StatRecord {
                pid: i,
                comm: format!("p{i}"),
                state: 'S',
                cpu_ticks: 0,
                start_ticks: 0,
                resident_bytes: [10, 60, 20, 50, 30, 40][i as usize],
                threads: 1,
            })
            .collect();
        let cpu = [Some(0.9), Some(0.1), Some(0.8), None, Some(0.0), Some(0.2)];
        // Top 2 by CPU: 0, 2; top 2 by memory: 1, 3.
        assert_eq!(select_top(&records, &cpu, 2), vec![0, 2, 1, 3]);
        // Overlap is reported once: top 3 by CPU 0, 2, 5; by memory 1, 3, 5.
        assert_eq!(select_top(&records, &cpu, 3), vec![0, 2, 5, 1, 3]);
        assert!(select_top(&records, &cpu, 1).len() <= 2);
    }

    #[test]
    fn record_writes_every_family_with_pid_comm_and_user() {
        let top = TopProcesses {
            processes: vec![TopProcess {
                pid: 42,
                comm: "sensor\"d".into(),
                cmdline: "/usr/bin/sensord -c /etc/s.conf".into(),
                user: "edge".into(),
                state: 'R',
                cpu_ratio: Some(0.75),
                resident_bytes: 4096.0,
                memory_ratio: Some(0.001),
                threads: 4.0,
                start_time_seconds: 1700000123.5,
            }],
            window_seconds: 5.0,
            sampled: 120,
            unreadable: 2,
            timestamp_seconds: 1700000200.0,
            duration_seconds: 0.004,
        };
        let mut out = MetricSet::new();
        record(&top, &mut out);
        let who = [("pid", "42"), ("comm", "sensor\"d"), ("user", "edge")];
        assert_eq!(out.value("edge_process_cpu_ratio", &who), Some(0.75));
        assert_eq!(
            out.value("edge_process_resident_memory_bytes", &who),
            Some(4096.0)
        );
        assert_eq!(out.value("edge_process_memory_ratio", &who), Some(0.001));
        assert_eq!(out.value("edge_process_threads", &who), Some(4.0));
        assert_eq!(
            out.value("edge_process_start_time_seconds", &who),
            Some(1700000123.5)
        );
        assert_eq!(
            out.value(
                "edge_process_info",
                &[
                    ("pid", "42"),
                    ("cmdline", "/usr/bin/sensord -c /etc/s.conf")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            out.value("edge_process_state", &[("pid", "42"), ("state", "R")]),
            Some(1.0)
        );
        assert_eq!(
            out.value("edge_process_state", &[("pid", "42"), ("state", "S")]),
            Some(0.0)
        );
        assert_eq!(out.get("edge_process_state").map(|f| f.len()), Some(5));
        assert_eq!(out.value("edge_processes_sampled", &[]), Some(120.0));
        assert_eq!(out.value("edge_processes_unreadable", &[]), Some(2.0));
        assert_eq!(out.value("edge_processes_window_seconds", &[]), Some(5.0));
    }

    #[test]
    fn cmdline_is_label_safe_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmdline");
        std::fs::write(&path, "a\0b\nc\0\0").unwrap();
        let redacted = CmdlinePolicy::Redact;
        assert_eq!(read_cmdline(&path, redacted), "a b c");
        std::fs::write(&path, "é".repeat(200)).unwrap();
        let long = read_cmdline(&path, redacted);
        assert!(long.len() <= CMDLINE_BYTES && long.len() >= CMDLINE_BYTES - 1);
        assert!(long.chars().all(|c| c == 'é'));
        assert_eq!(read_cmdline(&dir.path().join("missing"), redacted), "");
    }

    #[test]
    fn cmdline_secrets_are_hidden_unless_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmdline");
        // A secret placed where the 256-byte cut falls is hidden before the cut: its
        // value starts 3 bytes before the cut, so cutting first would show "hun".
        let padding =
            "x".repeat(CMDLINE_BYTES - "/usr/bin/app ".len() - " --db-password=".len() - 3);
        std::fs::write(
            &path,
            format!("/usr/bin/app\0{padding}\0--db-password=hunter2-SECRET\0"),
        )
        .unwrap();
        let shown = read_cmdline(&path, CmdlinePolicy::Redact);
        assert!(
            !shown.contains("hunter2") && !shown.contains("hun"),
            "{shown}"
        );
        assert!(
            shown.ends_with("--db-password=") || shown.contains("--db-password=**"),
            "{shown}"
        );
        std::fs::write(&path, "app\0--db-password=hunter2-SECRET\0").unwrap();
        assert_eq!(
            read_cmdline(&path, CmdlinePolicy::Redact),
            "app --db-password=***"
        );
        assert_eq!(
            read_cmdline(&path, CmdlinePolicy::Full),
            "app --db-password=hunter2-SECRET"
        );
        assert_eq!(read_cmdline(&path, CmdlinePolicy::Drop), "");
    }

    #[test]
    fn passwd_maps_uids_and_skips_bad_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\nedge:x:1000:1000::/home/edge:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbad:x:notanumber:0::/:\n";
        let names = parse_passwd(text, Path::new("passwd"));
        assert_eq!(names.len(), 2);
        assert_eq!(names[&0], "root");
        assert_eq!(names[&1000], "edge");
    }

    #[test]
    fn flags_are_checked() {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(["t", "--collector.top_processes.top=0"])
            .unwrap();
        let paths = Paths::default();
        let err = TopProcessCollector::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("--collector.top_processes.top: \"0\""),
            "{err}"
        );
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(["t", "--collector.top_processes.interval=10ms"])
            .unwrap();
        let err = TopProcessCollector::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("at least 100ms"), "{err}");
    }

    #[test]
    fn only_kernel_shaped_stat_lines_reach_the_parser() {
        for good in [
            &b"42 (sensord) S 1 42 42 0"[..],
            b"7 (a (b) c) R 1",
            b"9 ()) S 1",
        ] {
            assert!(
                is_kernel_shaped_stat(good),
                "{}",
                String::from_utf8_lossy(good)
            );
        }
        for bad in [
            &b"(a) S 1"[..],
            b"1 (a)",
            b"1 (a) ",
            b"1 (a)  ",
            b"x (a) S",
            b"1(a) S",
            b"1 a) S",
            b"",
        ] {
            assert!(
                !is_kernel_shaped_stat(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
