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

#[test]
fn idle_and_half_open_connections_are_closed() {
    use std::io::{Read, Write};
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--web.header-read-timeout=400ms",
        "--web.idle-timeout=600ms",
    ]));
    // Half a request head: closed at the header timeout.
    let mut half = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
    let closed_after = started.elapsed();
    assert!(
        closed_after < Duration::from_secs(2),
        "half-open kept {closed_after:?}"
    );
    // 100 idle connections: all closed by the server within the idle/header timeouts.
    let mut idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).unwrap_or(0),
            0,
            "an idle connection is still open"
        );
    }
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn the_web_config_file_protects_metrics_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(
        &config,
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .unwrap();
    let server = start_edge_with_auth(&args(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        &format!("--web.config.file={}", config.display()),
    ]));
    let url = format!("http://127.0.0.1:{}/metrics", server.port);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let status = |user: Option<(&str, &str)>| {
        let mut request = agent.get(&url);
        if let Some((name, password)) = user {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
            request = request.header("Authorization", format!("Basic {token}"));
        }
        request.call().unwrap().status().as_u16()
    };
    assert_eq!(status(None), 401);
    assert_eq!(status(Some(("prometheus", "wrong"))), 401);
    assert_eq!(status(Some(("prometheus", "s3cret"))), 200);
    // A broken file is refused at start with the key named.
    std::fs::write(&config, "basic_auth_user: {}\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_edge-exporter"))
        .arg(format!("--web.config.file={}", config.display()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .find(|line| line.starts_with("edge-exporter: error: "))
        .unwrap_or_default();
    assert!(
        error.starts_with("edge-exporter: error: --web.config.file: ")
            && error.contains("unknown field `basic_auth_user`"),
        "{stderr}"
    );
}

#[test]
fn a_line_of_fifty_thousand_labels_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<String> = (0..50_000).map(|n| format!("l{n}=\"v\"")).collect();
    std::fs::write(
        dir.path().join("wide.prom"),
        format!("edge_wide{{{}}} 1\n", labels.join(",")),
    )
    .unwrap();
    std::fs::write(dir.path().join("ok.prom"), "edge_ok 1\n").unwrap();
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]));
    let started = Instant::now();
    let series = server.metrics();
    let took = started.elapsed();
    eprintln!("scrape with a 50,000-label line: {took:?}");
    // It took 13.7 s when every label name was scanned for repeats.
    assert!(took < Duration::from_secs(5), "{took:?}");
    let wide = format!("{}/wide.prom", dir.path().display());
    assert_eq!(
        value(
            &series,
            "edge_textfile_refused",
            &[("file", &wide), ("limit", "labels")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&series, "edge_ok", &[]), Some(1.0));
}
