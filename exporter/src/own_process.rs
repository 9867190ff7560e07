//! The exporter's own `process_*` families, as every Prometheus client library
//! exports them (client_golang's process collector in node_exporter), so dashboards'
//! exporter-resource panels work: CPU seconds, resident and virtual memory, open and
//! maximum file descriptors, start time. `--web.disable-exporter-metrics` turns them
//! off, as in node_exporter.
//!
//! They describe this process, so they are read from the real `/proc/self`, whatever
//! `--path.procfs` says (that points at the host's `/proc`). The start time is read
//! once: it does not change.

use std::fs;
use std::io;

#[cfg(test)]
use edge_common::exposition::MetricKind;
use edge_common::exposition::MetricSet;

/// This process's identity for the families: what does not change between scrapes.
pub struct OwnProcess {
    ticks_per_second: f64,
    page_size: f64,
    start_time_seconds: f64,
}

/// What `/proc/self/stat` says of this process.
struct SelfStat {
    cpu_ticks: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl OwnProcess {
    pub fn new() -> io::Result<Self> {
        let ticks_per_second = procfs::ticks_per_second() as f64;
        let stat = read_self_stat()?;
        let boot_time = boot_time()?;
        Ok(OwnProcess {
            ticks_per_second,
            page_size: procfs::page_size() as f64,
            start_time_seconds: boot_time + stat.start_ticks as f64 / ticks_per_second,
        })
    }

    /// Appends the families; a file that cannot be read leaves its families out.
    pub fn record(&self, out: &mut MetricSet) {
        match read_self_stat() {
            Ok(stat) => {
                out.counter(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                    &[],
                    stat.cpu_ticks as f64 / self.ticks_per_second,
                );
                out.gauge(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    &[],
                    stat.resident_pages as f64 * self.page_size,
                );
                out.gauge(
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    &[],
                    stat.virtual_bytes as f64,
                );
            }
            Err(error) => tracing::debug!(%error, "reading /proc/self/stat"),
        }
        match fs::read_dir("/proc/self/fd") {
            // The directory's own descriptor is among them while it is read.
            Ok(entries) => out.gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                &[],
                entries.count().saturating_sub(1) as f64,
            ),
            Err(error) => tracing::debug!(%error, "reading /proc/self/fd"),
        }
        if let Some(limit) = soft_limit(libc::RLIMIT_NOFILE) {
            out.gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                &[],
                limit,
            );
        }
        // client_golang reports "unlimited" as the largest u64, as rlimit holds it.
        if let Some(limit) = soft_limit(libc::RLIMIT_AS) {
            out.gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                &[],
                limit,
            );
        }
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            &[],
            self.start_time_seconds,
        );
    }
}

fn read_self_stat() -> io::Result<SelfStat> {
    let text = fs::read_to_string("/proc/self/stat")?;
    // The command name is in parentheses and may hold spaces: fields count from the
    // last ')'. After it: state (field 3), …, utime 14, stime 15, starttime 22,
    // vsize 23, rss 24.
    let after = text
        .rfind(')')
        .map(|close| &text[close + 1..])
        .ok_or_else(|| io::Error::other("/proc/self/stat: no ')'"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |number: usize| -> io::Result<u64> {
        fields
            .get(number - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!("/proc/self/stat: field {number} is not a number"))
            })
    };
    Ok(SelfStat {
        cpu_ticks: field(14)?.saturating_add(field(15)?),
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// `btime` of the real `/proc/stat`: the boot time in Unix seconds.
fn boot_time() -> io::Result<f64> {
    let text = fs::read_to_string("/proc/stat")?;
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .ok_or_else(|| io::Error::other("/proc/stat: no btime line"))
}

/// The soft limit of `resource` (`RLIM_INFINITY` is the largest u64).
fn soft_limit(resource: libc::__rlimit_resource_t) -> Option<f64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let status = unsafe { libc::getrlimit(resource, &mut limit) };
    (status == 0).then_some(limit.rlim_cur as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described() {
        let own = OwnProcess::new().unwrap();
        let mut out = MetricSet::new();
        own.record(&mut out);
        let value = |name: &str| out.value(name, &[]).unwrap_or_else(|| panic!("{name}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let rss = value("process_resident_memory_bytes");
        assert!(
            rss > 1e6 && rss <= value("process_virtual_memory_bytes"),
            "{rss}"
        );
        // A file opened now is one more descriptor.
        let before = value("process_open_fds");
        let _file = fs::File::open("/proc/self/stat").unwrap();
        let mut again = MetricSet::new();
        own.record(&mut again);
        assert_eq!(again.value("process_open_fds", &[]), Some(before + 1.0));
        assert!(value("process_max_fds") >= before);
        // Tests run without an address-space limit: unlimited, as client_golang says it.
        assert_eq!(value("process_virtual_memory_max_bytes"), u64::MAX as f64);
        assert_eq!(
            out.get("process_cpu_seconds_total").map(|f| f.kind),
            Some(MetricKind::Counter)
        );
    }
}
