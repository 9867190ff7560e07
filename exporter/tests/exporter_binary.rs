//! The edge-exporter binary as a user meets it: flags and their errors, the HTTP
//! endpoints, format negotiation, and a failing collector that does not fail a scrape.

mod common;

use std::process::Command;

use common::*;

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edge-exporter"))
}

/// A minimal procfs with only what the named collectors read.
fn tiny_procfs(meminfo: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meminfo"), meminfo).unwrap();
    std::fs::write(dir.path().join("loadavg"), "0.50 0.25 0.10 1/100 4242\n").unwrap();
    dir
}

#[test]
fn bad_flag_values_exit_2_with_one_line() {
    for (flag, expected) in [
        (
            "--path.procfs=/no/such/dir",
            "edge-exporter: error: --path.procfs: /no/such/dir: ",
        ),
        (
            "--collector.filesystem.mount-points-exclude=(",
            "edge-exporter: error: --collector.filesystem.mount-points-exclude: not a valid regular expression:",
        ),
        (
            "--web.listen-address=9100",
            "edge-exporter: error: --web.listen-address: \"9100\": expected [host]:port",
        ),
        (
            "--web.listen-address=:http",
            "edge-exporter: error: --web.listen-address: \":http\": port \"http\" is not a number",
        ),
    ] {
        let output = exporter().arg(flag).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        // Startup warnings (a missing udev directory) may come first; the error is one line.
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("edge-exporter: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{flag}: {stderr}");
        assert!(errors[0].starts_with(expected), "{flag}: {stderr}");
        assert!(
            stderr.trim_end().ends_with(errors[0]),
            "the error is the last line: {stderr}"
        );
    }
    // Unknown flags are clap's usage errors: also exit 2. So is a --no- form kingpin
    // would not take (a flag with a value).
    for flag in ["--collector.nonsense", "--no-collector.ntp.server"] {
        let output = exporter().arg(flag).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}");
    }
}

#[test]
fn help_documents_every_flag() {
    let output = exporter().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--web.listen-address",
        "--web.telemetry-path",
        "--path.procfs",
        "--path.sysfs",
        "--path.rootfs",
        "--path.udev.data",
        "--node-name",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.filesystem.mount-points-exclude",
        "--collector.filesystem.fs-types-exclude",
        "--collector.filesystem.mount-timeout",
        "--collector.netdev.device-include",
        "--collector.netdev.device-exclude",
        "--collector.diskstats.device-exclude",
        "--collector.netclass.ignored-devices",
        "--runtime.gomaxprocs",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    // Accepted-and-ignored node_exporter flags stay out of the help.
    assert!(!help.contains("--collector.ntp.server"), "{help}");
}

/// Every node_exporter 1.12 flag edge-exporter does not support, in both spellings
/// kingpin takes, on one command line: the exporter starts, serves, and names each
/// one in a warning. A second run uses 4 runtime workers (`--runtime.gomaxprocs`).
#[test]
fn node_exporter_flags_are_accepted_with_a_warning() {
    use edge_exporter::node_exporter_flags::{all, Kind};
    let command = edge_exporter::cli::command();
    let ignored = |long: &str| {
        command
            .get_arguments()
            .any(|a| a.get_long() == Some(long) && a.get_id().as_str().starts_with("ignored:"))
    };
    let mut flags = Vec::new();
    let mut named = Vec::new();
    for (index, flag) in all().enumerate() {
        let name = flag.name;
        match flag.kind {
            Kind::Value if ignored(name) => {
                if index % 2 == 0 {
                    flags.push(format!("--{name}=v{index}"));
                } else {
                    flags.extend([format!("--{name}"), format!("v{index}")]);
                }
                named.push(format!("--{name}"));
            }
            Kind::Value => {}
            Kind::Switch => {
                for form in [name.to_string(), format!("no-{name}")] {
                    if ignored(&form) {
                        flags.push(format!("--{form}"));
                        named.push(format!("--{form}"));
                    }
                }
            }
        }
    }
    // ntp, perf, ethtool, qdisc, wifi, … and their flags: dozens still unsupported.
    assert!(named.len() > 50, "{named:?}");
    for workers in ["1", "4"] {
        let stderr_file = tempfile::NamedTempFile::new().unwrap();
        let port = free_port();
        let mut child = exporter()
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--collector.disable-defaults", "--collector.loadavg"])
            .arg(format!("--runtime.gomaxprocs={workers}"))
            .args(&flags)
            .stdout(std::process::Stdio::null())
            .stderr(stderr_file.reopen().unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let served = loop {
            if let Ok(response) = try_get(port, "/metrics", None) {
                break response;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "exited with {status}: {}",
                    std::fs::read_to_string(stderr_file.path()).unwrap()
                );
            }
            assert!(std::time::Instant::now() < deadline, "not serving");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(served.status, 200);
        assert!(served.body.contains("node_load1 "), "{}", served.body);
        let stderr = std::fs::read_to_string(stderr_file.path()).unwrap();
        for flag in &named {
            let line =
                format!("{flag}: accepted for node_exporter compatibility, not supported; ignored");
            assert_eq!(
                stderr.lines().filter(|l| l.contains(&line)).count(),
                1,
                "{flag}: {stderr}"
            );
        }
    }
}

#[test]
fn serves_landing_health_and_both_formats() {
    let procfs = tiny_procfs("MemTotal: 2048 kB\nMemFree: 1024 kB\n");
    let server = start_edge(&args(&[
        &format!("--path.procfs={}", procfs.path().display()),
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.loadavg",
        "--node-name=edge-test-1",
    ]));
    let landing = server.get("/");
    assert_eq!(landing.status, 200);
    assert!(
        landing.body.contains("href=\"/metrics\""),
        "{}",
        landing.body
    );
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/nope").status, 404);

    let text = server.get("/metrics");
    assert_eq!(
        text.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let series = parse_exposition(&text.body);
    assert_eq!(
        value(&series, "node_memory_MemTotal_bytes", &[]),
        Some(2097152.0)
    );
    assert_eq!(value(&series, "node_load5", &[]), Some(0.25));
    assert_eq!(
        value(&series, "edge_node_info", &[("node_name", "edge-test-1")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &series,
            "node_scrape_collector_success",
            &[("collector", "meminfo")]
        ),
        Some(1.0)
    );
    assert!(text
        .body
        .contains("# TYPE node_memory_MemTotal_bytes gauge\n"));

    let om = get(
        server.port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert_eq!(
        om.header("content-type").as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om.body.contains("# TYPE edge_node_info gauge\n"));
    assert_eq!(
        value(
            &parse_exposition(&om.body),
            "node_memory_MemFree_bytes",
            &[]
        ),
        Some(1048576.0)
    );
}

#[test]
fn a_broken_source_fails_only_its_collector() {
    let procfs = tiny_procfs("MemTotal: 2048 kB\nMemFree: a lot\n");
    let server = start_edge(&args(&[
        &format!("--path.procfs={}", procfs.path().display()),
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.loadavg",
        "--node-name=n",
    ]));
    let series = server.metrics();
    assert_eq!(
        value(
            &series,
            "node_scrape_collector_success",
            &[("collector", "meminfo")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &series,
            "node_scrape_collector_success",
            &[("collector", "loadavg")]
        ),
        Some(1.0)
    );
    // Nothing half-read: not even the line that parsed.
    assert_eq!(value(&series, "node_memory_MemTotal_bytes", &[]), None);
    assert_eq!(value(&series, "node_load1", &[]), Some(0.5));
}

#[test]
fn time_zone_comes_from_tz() {
    let mut command = exporter();
    command.env("TZ", "EDGE-3").args([
        "--collector.disable-defaults",
        "--collector.time",
        "--node-name=n",
    ]);
    let series = scrape_once(command);
    assert_eq!(
        value(
            &series,
            "node_time_zone_offset_seconds",
            &[("time_zone", "EDGE")]
        ),
        Some(10800.0)
    );
}

#[test]
fn node_name_defaults_to_env_then_hostname() {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (env, expected) in [(Some("from-env"), "from-env"), (None, hostname.trim())] {
        let mut command = exporter();
        command
            .env_remove("NODE_NAME")
            .arg("--collector.disable-defaults");
        if let Some(env) = env {
            command.env("NODE_NAME", env);
        }
        let series = scrape_once(command);
        assert_eq!(
            value(&series, "edge_node_info", &[("node_name", expected)]),
            Some(1.0)
        );
    }
}

#[test]
fn openmetrics_output_never_declares_a_family_twice() {
    // A script's gauge named like the sidecar's counter without `_total`: two
    // families in text 0.0.4, one name in OpenMetrics.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("custom_metrics.prom"),
        "# HELP edge_sidecar_source_runs_total Runs.\n# TYPE edge_sidecar_source_runs_total counter\n\
         edge_sidecar_source_runs_total{source=\"a\"} 3\n\
         # HELP edge_sidecar_source_runs Value from a script.\n# TYPE edge_sidecar_source_runs gauge\n\
         edge_sidecar_source_runs 7\n",
    )
    .unwrap();
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]));
    let text = get(server.port, "/metrics", None).body;
    assert!(text.contains("\nedge_sidecar_source_runs 7\n"), "{text}");
    assert!(text.contains("edge_sidecar_source_runs_total{source=\"a\"} 3"));
    let openmetrics = get(
        server.port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .body;
    let declarations = openmetrics
        .lines()
        .filter(|line| line.starts_with("# TYPE edge_sidecar_source_runs "))
        .count();
    assert_eq!(declarations, 1, "{openmetrics}");
    // The counter was registered first (the file's first family) and keeps the name.
    assert!(openmetrics.contains("# TYPE edge_sidecar_source_runs counter\n"));
    assert!(!openmetrics.contains("edge_sidecar_source_runs 7"));
}

#[test]
fn the_exporters_own_process_families_unless_disabled() {
    let server = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]));
    let series = server.metrics();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value(&series, "process_start_time_seconds", &[]).unwrap();
    assert!(
        started <= now + 1.0 && started > now - 60.0,
        "{started} vs {now}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let rss = value(&series, "process_resident_memory_bytes", &[]).unwrap();
    assert!(
        (rss - rss_kb * 1024.0).abs() < 4.0 * 1024.0 * 1024.0,
        "process_resident_memory_bytes {rss} vs VmRSS {rss_kb} kB"
    );
    let open = value(&series, "process_open_fds", &[]).unwrap();
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count() as f64;
    assert!(
        (open - fds).abs() <= 4.0,
        "process_open_fds {open} vs {fds}"
    );
    assert!(value(&series, "process_max_fds", &[]).unwrap() >= open);
    assert!(value(&series, "process_cpu_seconds_total", &[]).unwrap() >= 0.0);
    assert!(value(&series, "process_virtual_memory_bytes", &[]).unwrap() >= rss);

    let quiet = start_edge(&args(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--web.disable-exporter-metrics",
    ]));
    assert!(!quiet
        .metrics()
        .iter()
        .any(|s| s.name.starts_with("process_")));
}

#[test]
fn several_listen_addresses_are_all_served() {
    // node_exporter (exporter-toolkit) takes --web.listen-address more than once.
    let second = free_port();
    let server = start_edge(&args(&[
        &format!("--web.listen-address=127.0.0.1:{second}"),
        "--node-name=two-ports",
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]));
    for port in [server.port, second] {
        let response = get(port, "/metrics", None);
        assert_eq!(response.status, 200, "port {port}");
        assert!(response.body.contains("node_load1 "), "port {port}");
    }
    let too_many: Vec<String> = (0..17)
        .map(|i| format!("--web.listen-address=127.0.0.1:{}", 30000 + i))
        .collect();
    let output = exporter().args(&too_many).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--web.listen-address: given 17 times, at most 16"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
