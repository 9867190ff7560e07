//! The top-processes sampler on this live machine, through the real binary: a
//! busy-loop child must rank first by CPU and a child holding a few hundred MB first
//! by memory, a scrape never lists more than 2 × top processes, and processes that
//! exit between samples leave no errors behind.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// Children killed when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh")
}

/// Distinct pids of the process families in one scrape.
fn pids(series: &[Series]) -> BTreeSet<String> {
    series
        .iter()
        .filter(|s| s.name.starts_with("edge_process_"))
        .filter_map(|s| s.labels.get("pid").cloned())
        .collect()
}

fn top_by(series: &[Series], family: &str) -> Option<(String, f64)> {
    series
        .iter()
        .filter(|s| s.name == family)
        .max_by(|a, b| a.value.total_cmp(&b.value))
        .and_then(|s| Some((s.labels.get("pid")?.clone(), s.value)))
}

#[test]
fn busy_and_big_children_rank_first_and_output_is_bounded() {
    let mut children = Children(Vec::new());
    // dash keeps a command substitution's output in memory: ~250 MB resident.
    children.0.push(spawn(
        "x=$(head -c 250000000 /dev/zero | tr '\\0' a); sleep 120",
    ));
    children.0.push(spawn("while :; do :; done"));
    for _ in 0..20 {
        children.0.push(spawn("sleep 120"));
    }
    let hog = children.0[0].id().to_string();
    let busy = children.0[1].id().to_string();

    let top = 3;
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.top_processes",
        "--collector.top_processes.interval=500ms",
        &format!("--collector.top_processes.top={top}"),
        "--node-name=processes-test",
    ]));

    // The hog needs a moment to fill its memory; the busy loop a window to be measured.
    let deadline = Instant::now() + Duration::from_secs(30);
    let series = loop {
        let series = server.metrics();
        let cpu_top = top_by(&series, "edge_process_cpu_ratio");
        let mem_top = top_by(&series, "edge_process_resident_memory_bytes");
        if cpu_top.as_ref().is_some_and(|(pid, _)| *pid == busy)
            && mem_top
                .as_ref()
                .is_some_and(|(pid, bytes)| *pid == hog && *bytes > 200e6)
        {
            break series;
        }
        assert!(
            Instant::now() < deadline,
            "busy {busy} / hog {hog} never ranked first: cpu {cpu_top:?}, memory {mem_top:?}"
        );
        sleep(Duration::from_millis(250));
    };

    // A busy loop uses up to one core: as much as the machine gives it, which on a
    // shared machine may be half a core or less. Its average share since it started,
    // from /proc, is the reference.
    let (_, cpu) = top_by(&series, "edge_process_cpu_ratio").unwrap();
    let average = average_cpu_share(&busy);
    assert!(
        cpu > 0.05 && cpu <= 1.2 && (cpu - average).abs() < 0.5,
        "a busy loop's CPU ratio {cpu}, its average share since it started {average}"
    );
    let me = Command::new("id").arg("-un").output().expect("id -un");
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    let who = [
        ("pid", busy.as_str()),
        ("comm", "sh"),
        ("user", me.as_str()),
    ];
    let start = value(&series, "edge_process_start_time_seconds", &who).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - start >= 0.0 && now - start < 60.0,
        "started just now: {start} vs {now}"
    );
    assert_eq!(
        value(
            &series,
            "edge_process_state",
            &[("pid", &busy), ("state", "R")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &series,
            "edge_process_info",
            &[("pid", &busy), ("cmdline", "sh -c while :; do :; done")]
        ),
        Some(1.0)
    );
    let share = value(
        &series,
        "edge_process_memory_ratio",
        &[("pid", hog.as_str())],
    )
    .unwrap();
    assert!(share > 0.0 && share < 1.0);

    let reported = pids(&series);
    assert!(
        reported.len() <= 2 * top,
        "{} processes reported: {reported:?}",
        reported.len()
    );
    assert!(value(&series, "edge_processes_sampled", &[]).unwrap() >= 22.0);
    assert_eq!(
        value(&series, "edge_processes_window_seconds", &[]).map(|w| w > 0.3),
        Some(true)
    );

    // Processes that exit between samples: no errors, and they drop out.
    drop(children);
    sleep(Duration::from_millis(1300));
    let series = server.metrics();
    assert_eq!(
        value(
            &series,
            "node_scrape_collector_success",
            &[("collector", "top_processes")]
        ),
        Some(1.0)
    );
    let reported = pids(&series);
    assert!(
        !reported.contains(&busy) && !reported.contains(&hog),
        "{reported:?}"
    );
}

/// The cmdline label of `pid`'s edge_process_info, once the sampler lists it.
fn cmdline_of(server: &Server, pid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let series = server.metrics();
        if let Some(info) = series.iter().find(|s| {
            s.name == "edge_process_info" && s.labels.get("pid").map(String::as_str) == Some(pid)
        }) {
            return info.labels["cmdline"].clone();
        }
        assert!(Instant::now() < deadline, "pid {pid} never listed");
        sleep(Duration::from_millis(200));
    }
}

#[test]
fn secrets_in_command_lines_are_redacted_by_default() {
    // A process started with a password on its command line (sh puts the words after
    // the script into /proc/PID/cmdline). An idle one: a busy loop would compete with
    // the other test's, which must rank first by CPU; --collector.top_processes.top=1000
    // lists every process instead.
    let mut children = Children(vec![Command::new("sh")
        .args([
            "-c",
            "sleep 60",
            "app",
            "--db-password=hunter2-SECRET",
            "--token",
            "abc123",
            "postgres://admin:s3cr3t@db/x",
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sh")]);
    let pid = children.0[0].id().to_string();
    let flags = |cmdline: Option<&str>| {
        let mut flags = args(&[
            "--collector.disable-defaults",
            "--collector.top_processes",
            "--collector.top_processes.interval=300ms",
            "--collector.top_processes.top=1000",
        ]);
        flags.extend(cmdline.map(|c| format!("--collector.top_processes.cmdline={c}")));
        flags
    };
    let redacted = cmdline_of(&start_edge(&flags(None)), &pid);
    assert_eq!(
        redacted,
        "sh -c sleep 60 app --db-password=*** --token *** postgres://admin:***@db/x"
    );
    let full = cmdline_of(&start_edge(&flags(Some("full"))), &pid);
    assert!(full.contains("--db-password=hunter2-SECRET"), "{full}");
    let none = cmdline_of(&start_edge(&flags(Some("drop"))), &pid);
    assert_eq!(none, "");
    children.0[0].kill().ok();
}

/// The CPU time `pid` has used over the time since it started (cores), from
/// /proc/PID/stat and /proc/uptime.
fn average_cpu_share(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command, which is in parentheses: state is field 3.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    let (utime, stime, start) = (fields[11], fields[12], fields[19]);
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (utime + stime) / ticks / (uptime - start / ticks)
}
