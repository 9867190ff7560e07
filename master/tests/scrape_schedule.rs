//! The scrape schedule at scale: edge-master scraping 1,000 targets whose exporter
//! answers each request after 150 ms (as small boards over a WAN do), every 5 s.
//! Every target must still be scraped every 5 s (± 10 %) and no node go offline. The
//! exporter is a stand-in on loopback (one port, a path per target, names from a
//! targets file) serving edge-exporter's golden output without the collectors that
//! are off by default or need hardware an edge node lacks (zfs, nfs, infiniband, …).
//!
//! Printed, not asserted: the spread of the scrape periods, the connections the
//! master opened, its CPU time and peak RSS over the run.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use std::process::Stdio;
use support::http::{get, wait_until};

use support::{free_port, status_kib};

const TARGETS: usize = 1_000;
const INTERVAL: Duration = Duration::from_secs(5);
const ANSWER_DELAY: Duration = Duration::from_millis(150);
const RUN: Duration = Duration::from_secs(21);

/// Families of collectors an edge node does not run (off by default, or hardware it
/// lacks), left out of the served body to make it the size of a real node's.
const ABSENT: &[&str] = &[
    "node_zfs",
    "node_mountstats",
    "node_interrupts",
    "node_nfs",
    "node_bcachefs",
    "node_infiniband",
    "node_xfs",
    "node_md_",
    "node_ipvs",
    "node_bcache",
    "node_btrfs",
    "node_tape",
    "node_fibrechannel",
    "node_cgroups",
    "node_qdisc",
    "node_edac",
    "node_power_supply",
    "node_drbd",
    "node_nvme",
    "node_scrape",
];

fn body() -> String {
    let golden = include_str!("../../exporter/tests/fixtures/edge_exporter_output.txt");
    let mut out = String::with_capacity(golden.len());
    for line in golden.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if !ABSENT.iter().any(|absent| name.starts_with(absent)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

type RequestLog = Arc<Mutex<Vec<(String, Instant)>>>;

/// The exporter stand-in: logs each request's path and arrival, answers after
/// [`ANSWER_DELAY`]. Returns its port, the log and the count of connections accepted.
fn serve_exporters(runtime: &tokio::runtime::Runtime) -> (u16, RequestLog, Arc<AtomicUsize>) {
    let log: RequestLog = Arc::new(Mutex::new(Vec::with_capacity(TARGETS * 6)));
    let connections = Arc::new(AtomicUsize::new(0));
    let body = axum::body::Bytes::from(body());
    let app = axum::Router::new().fallback({
        let log = Arc::clone(&log);
        move |uri: axum::http::Uri| {
            log.lock()
                .unwrap()
                .push((uri.path().to_owned(), Instant::now()));
            let body = body.clone();
            async move {
                tokio::time::sleep(ANSWER_DELAY).await;
                ([("content-type", "text/plain; version=0.0.4")], body)
            }
        }
    });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let counted = Arc::clone(&connections);
    let listener = listener.tap_io(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    runtime.spawn(async move { axum::serve(listener, app).await });
    (port, log, connections)
}

/// user + system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces) close with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on every Linux the tests run on.
    ticks / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn a_thousand_slow_targets_are_each_scraped_every_interval() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (exporter_port, log, connections) = serve_exporters(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets");
    let lines: String = (0..TARGETS)
        .map(|i| format!("node-{i:04}=http://127.0.0.1:{exporter_port}/n/{i:04}\n"))
        .collect();
    std::fs::write(&targets, lines).unwrap();

    let port = free_port();
    let log_path = dir.path().join("master.log");
    let master = support::Server(
        std::process::Command::new(
            std::env::var("EDGE_MASTER_UNDER_TEST")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_edge-master").to_owned()),
        )
        .args([
            format!("--listen=127.0.0.1:{port}"),
            format!("--db={}", dir.path().join("master.db").display()),
            format!("--targets-file={}", targets.display()),
            "--scrape-interval=5s".into(),
            "--scrape-timeout=4s".into(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap(),
    );
    let pid = master.0.id();
    wait_until(
        "edge-master answering /healthz",
        Duration::from_secs(10),
        || support::http::try_get(port, "/healthz").is_ok_and(|a| a.status == 200),
    );
    let started = Instant::now();
    let cpu_at_start = cpu_seconds(pid);
    std::thread::sleep(RUN);
    // One look at the API, at the end: a node not scraped for the last 3 intervals
    // (--offline-after) would be offline by now.
    let list = get(port, "/api/v2/clusters/default/node-metrics").json();
    let offline = list["summary"]["offline_nodes"].as_u64().unwrap();
    let total = list["summary"]["total_nodes"].as_u64().unwrap();
    let cpu = cpu_seconds(pid) - cpu_at_start;
    let peak_rss_mib = status_kib(pid, "VmHWM") as f64 / 1024.0;
    let elapsed = started.elapsed().as_secs_f64();
    drop(master);

    let master_log = std::fs::read_to_string(&log_path).unwrap();
    let tail: Vec<&str> = master_log.lines().rev().take(20).collect();
    println!(
        "edge-master's last log lines (newest first):\n{}",
        tail.join("\n")
    );
    let log = log.lock().unwrap();
    let mut by_path: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (path, at) in log.iter() {
        by_path.entry(path.as_str()).or_default().push(*at);
    }
    let mut periods: Vec<Duration> = by_path
        .values()
        .flat_map(|times| times.windows(2).map(|w| w[1] - w[0]))
        .collect();
    periods.sort();
    let scraped_thrice = by_path.values().filter(|t| t.len() >= 3).count();
    println!(
        "scrape_schedule: {TARGETS} targets answering after {ANSWER_DELAY:?}, every {INTERVAL:?}, body {} series: \
         {} requests on {} connections; period min/median/p99/max {:?}/{:?}/{:?}/{:?}; \
         master CPU {cpu:.2} s over {elapsed:.1} s ({:.3} core), peak RSS {peak_rss_mib:.0} MiB",
        body().lines().filter(|l| !l.starts_with('#')).count(),
        log.len(),
        connections.load(Ordering::Relaxed),
        periods.first().copied().unwrap_or_default(),
        periods.get(periods.len() / 2).copied().unwrap_or_default(),
        if periods.is_empty() { Duration::ZERO } else { percentile(&periods, 0.99) },
        periods.last().copied().unwrap_or_default(),
        cpu / elapsed,
    );

    assert_eq!(by_path.len(), TARGETS, "every target scraped");
    assert_eq!(
        scraped_thrice, TARGETS,
        "every target scraped at least 3 times"
    );
    let (low, high) = (INTERVAL.mul_f64(0.9), INTERVAL.mul_f64(1.1));
    let off: Vec<_> = periods.iter().filter(|p| **p < low || **p > high).collect();
    assert!(
        off.is_empty(),
        "{} of {} periods outside {low:?}..{high:?}: {:?}",
        off.len(),
        periods.len(),
        &off[..off.len().min(10)]
    );
    assert_eq!(offline, 0, "no node offline");
    assert_eq!(total, TARGETS as u64);
}
