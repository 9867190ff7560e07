//! What a hostile or unlucky node does to the real edge-exporter: a FIFO where a
//! textfile or a procfs file should be, textfiles with tens of thousands of families,
//! a huge valid textfile. `/healthz` always answers, scrapes end, memory stays small.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) },
        0,
        "{}",
        path.display()
    );
}

/// VmHWM (peak resident) of `pid`, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn a_fifo_named_prom_neither_hangs_the_scrape_nor_health() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("stuck.prom"));
    std::fs::write(dir.path().join("ok.prom"), "edge_ok 1\n").unwrap();
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]));
    let started = Instant::now();
    let series = server.metrics();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(value(&series, "edge_ok", &[]), Some(1.0));
    assert_eq!(value(&series, "node_textfile_scrape_error", &[]), Some(1.0));
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn health_answers_while_a_collector_is_stuck_on_a_file() {
    // /proc/loadavg replaced by a FIFO: the loadavg collector's read blocks until a
    // writer comes, which never happens. The scrape waits; /healthz must not.
    let procfs = tempfile::tempdir().unwrap();
    mkfifo(&procfs.path().join("loadavg"));
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        &format!("--path.procfs={}", procfs.path().display()),
    ]));
    let port = server.port;
    let stuck = std::thread::spawn(move || try_get(port, "/metrics", None).is_ok());
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(server.get("/healthz").status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(
        !stuck.is_finished(),
        "the scrape should still be waiting on the FIFO"
    );
    // Unblock the scrape so the server can be dropped cleanly: open the FIFO for
    // writing and close it (the reader sees end of file).
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(procfs.path().join("loadavg")),
    );
    let _ = stuck.join();
}

/// A textfile of `families` gauges, one sample each.
fn many_families(dir: &Path, families: usize) {
    let mut text = String::with_capacity(families * 40);
    for n in 0..families {
        text.push_str(&format!("# TYPE edge_f{n} gauge\nedge_f{n} {n}\n"));
    }
    std::fs::write(dir.join("many.prom"), text).unwrap();
}

#[test]
fn scrape_time_grows_linearly_with_textfile_families() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]));
    let mut took = Vec::new();
    for families in [10_000, 40_000] {
        many_families(dir.path(), families);
        let started = Instant::now();
        let series = server.metrics();
        took.push(started.elapsed());
        assert_eq!(
            series
                .iter()
                .filter(|s| s.name.starts_with("edge_f"))
                .count(),
            families
        );
    }
    eprintln!(
        "scrape with 10k textfile families {:?}, with 40k {:?}",
        took[0], took[1]
    );
    // Quadratic lookups took 16.6 s for 40k families; linear ones take well under a
    // second here. Generous bound: a guard against the quadratic path, not a target.
    assert!(took[1] < Duration::from_secs(8), "{:?}", took[1]);
}

#[test]
fn a_huge_valid_textfile_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // 15 MiB of valid series: under the 16 MiB file cap, over the scrape's byte limit.
    let line = "edge_big_series_with_a_long_name{label=\"value\",n=\"";
    let mut text = String::with_capacity(15 << 20);
    let mut n = 0u64;
    while text.len() < 15 << 20 {
        text.push_str(&format!("{line}{n}\"}} 1\n"));
        n += 1;
    }
    std::fs::write(dir.path().join("big.prom"), text).unwrap();
    std::fs::write(dir.path().join("small.prom"), "edge_small 1\n").unwrap();
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]));
    let series = server.metrics();
    let big = format!("{}/big.prom", dir.path().display());
    assert_eq!(
        value(
            &series,
            "edge_textfile_refused",
            &[("file", &big), ("limit", "bytes")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&series, "edge_small", &[]), Some(1.0));
    assert!(!series
        .iter()
        .any(|s| s.name == "edge_big_series_with_a_long_name"));
    let rss = peak_rss_mb(server.pid());
    eprintln!("peak RSS after a 15 MiB textfile: {rss:.1} MB");
    assert!(rss < 32.0, "peak RSS {rss:.1} MB");
}
