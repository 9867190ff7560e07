//! edge-master against real exporters on loopback: edge-exporter (and Debian's plain
//! node_exporter), every route of the atlhyper contract, error statuses, a stopped
//! exporter turning offline, pushes, a restart keeping history, kill -9 leaving a
//! sound database.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::{edge_exporter, free_port, spawn, Server};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// An HTTP client that returns every status as a response (the tests check them),
/// waiting at most 20 s for one.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(&str, &str)],
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// (status, body) of a request to the master on `port`, or why there was no answer.
fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), ureq::Error> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let agent = agent();
    let mut response = match method {
        "GET" => with_headers(agent.get(&url), headers).call(),
        "DELETE" => with_headers(agent.delete(&url), headers).call(),
        "POST" => with_headers(agent.post(&url), headers).send(body),
        other => panic!("no {other} requests in these tests"),
    }?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok((status, body))
}

/// (status, body) of a request that must be answered.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    try_request(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = request(port, "GET", path, &[], b"");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        sleep(Duration::from_millis(100));
    }
}

fn start_master(db: &Path, extra: &[String]) -> (Server, u16) {
    let port = free_port();
    let mut args = vec![
        format!("--listen=127.0.0.1:{port}"),
        format!("--db={}", db.display()),
        "--scrape-interval=500ms".into(),
        "--sample-interval=1s".into(),
    ];
    args.extend_from_slice(extra);
    let server = spawn(env!("CARGO_BIN_EXE_edge-master"), &args);
    wait_until(
        "edge-master answering /healthz",
        Duration::from_secs(10),
        || try_request(port, "GET", "/healthz", &[], b"").is_ok_and(|(status, _)| status == 200),
    );
    (server, port)
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn assert_keys(value: &Value, expected: &[&str], what: &str) {
    let present = keys(value);
    for key in expected {
        assert!(
            present.iter().any(|k| k == key),
            "{what}: no {key:?} in {present:?}"
        );
    }
}

#[test]
fn scrapes_edge_exporter_serves_every_route_and_marks_a_stopped_node_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = Server(
        Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    let exporter_port = free_port();
    let exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            "--node-name=edge-a".into(),
            "--collector.top_processes.interval=500ms".into(),
        ],
    );
    let (_master, port) = start_master(
        &tmp.path().join("m.db"),
        &[format!("--target=127.0.0.1:{exporter_port}")],
    );

    let list = "/api/v2/clusters/default/node-metrics";
    let mut body = Value::Null;
    wait_until(
        "a node with CPU usage and processes",
        Duration::from_secs(20),
        || {
            body = get_json(port, list).1;
            body["nodes"][0]["cpu"]["usage_percent"]
                .as_f64()
                .unwrap_or(0.0)
                > 0.0
                && body["nodes"][0]["processes"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
        },
    );
    assert_keys(&body, &["summary", "nodes"], "list");
    assert_keys(
        &body["summary"],
        &[
            "total_nodes",
            "online_nodes",
            "offline_nodes",
            "avg_cpu_usage",
            "avg_memory_usage",
            "avg_disk_usage",
            "max_cpu_usage",
            "max_memory_usage",
            "max_disk_usage",
            "avg_cpu_temp",
            "max_cpu_temp",
            "total_memory",
            "used_memory",
            "total_disk",
            "used_disk",
            "total_network_rx",
            "total_network_tx",
            "warning_nodes",
            "warning_node_names",
        ],
        "summary",
    );
    let node = &body["nodes"][0];
    assert_keys(
        node,
        &[
            "node_name",
            "timestamp",
            "hostname",
            "os",
            "kernel",
            "uptime",
            "cpu",
            "memory",
            "disks",
            "networks",
            "temperature",
            "processes",
            "status",
            "last_seen",
        ],
        "node",
    );
    assert_keys(
        &node["cpu"],
        &[
            "usage_percent",
            "user_percent",
            "system_percent",
            "idle_percent",
            "iowait_percent",
            "per_core",
            "load_1",
            "load_5",
            "load_15",
            "model",
            "cores",
            "threads",
            "frequency",
        ],
        "cpu",
    );
    assert_keys(
        &node["memory"],
        &[
            "total",
            "used",
            "available",
            "free",
            "usage_percent",
            "cached",
            "buffers",
            "swap_total",
            "swap_used",
            "swap_free",
            "swap_percent",
        ],
        "memory",
    );
    assert_keys(
        &node["disks"][0],
        &[
            "device",
            "mount_point",
            "fs_type",
            "total",
            "used",
            "available",
            "usage_percent",
            "read_bytes",
            "write_bytes",
            "read_rate",
            "write_rate",
            "read_iops",
            "write_iops",
            "io_util",
        ],
        "disk",
    );
    assert_keys(
        &node["networks"][0],
        &[
            "interface",
            "ip_address",
            "mac_address",
            "status",
            "speed",
            "mtu",
            "rx_bytes",
            "tx_bytes",
            "rx_packets",
            "tx_packets",
            "rx_rate",
            "tx_rate",
            "rx_errors",
            "tx_errors",
            "rx_dropped",
            "tx_dropped",
        ],
        "network",
    );
    assert_keys(
        &node["temperature"],
        &["cpu_temp", "cpu_temp_max", "sensors"],
        "temperature",
    );
    assert_keys(
        &node["processes"][0],
        &[
            "pid",
            "name",
            "cmdline",
            "user",
            "status",
            "cpu_percent",
            "mem_percent",
            "mem_rss",
            "threads",
            "start_time",
        ],
        "process",
    );

    // Real values: MemTotal, logical CPUs, the busy child with its start time.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let mem_total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(node["memory"]["total"].as_u64(), Some(mem_total_kb * 1024));
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(node["cpu"]["threads"].as_u64(), Some(cpus as u64));
    assert_eq!(node["cpu"]["per_core"].as_array().map(Vec::len), Some(cpus));
    // The clock: cpufreq's where the machine has it, else /proc/cpuinfo's `cpu MHz`
    // (this CI machine, a VM, has no cpufreq).
    let frequency = node["cpu"]["frequency"].as_f64().unwrap();
    if !Path::new("/sys/devices/system/cpu/cpu0/cpufreq").exists() {
        let clocks: Vec<f64> = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("cpu MHz"))
            .filter_map(|r| r.trim_start_matches([' ', '\t', ':']).trim().parse().ok())
            .collect();
        let expected = if clocks.is_empty() {
            0.0
        } else {
            clocks.iter().sum::<f64>() / clocks.len() as f64
        };
        assert!(
            (frequency - expected).abs() < 1e-6,
            "frequency {frequency} MHz, /proc/cpuinfo says {expected}"
        );
    } else {
        assert!(frequency > 0.0, "frequency {frequency} with cpufreq");
    }
    assert_eq!(node["node_name"], "edge-a");
    assert_eq!(node["status"], "online");
    let busy_pid = i64::from(busy.0.id());
    let mut found = Value::Null;
    wait_until(
        "the busy child among the processes",
        Duration::from_secs(10),
        || {
            let body = get_json(port, list).1;
            found = body["nodes"][0]["processes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["pid"].as_i64() == Some(busy_pid))
                .cloned()
                .unwrap_or(Value::Null);
            !found.is_null() && found["cpu_percent"].as_f64().unwrap_or(0.0) > 30.0
        },
    );
    let now = chrono::Utc::now().timestamp();
    let start = found["start_time"].as_i64().unwrap();
    assert!(
        start > now - 120 && start <= now,
        "start_time {start} vs now {now}"
    );

    // Both route families give the same node; history has points.
    let (status, one) = get_json(port, "/api/v2/clusters/default/node-metrics/edge-a");
    assert_eq!(status, 200);
    assert_eq!(one["node_name"], "edge-a");
    let (status, old) = get_json(port, "/api/v2/node-metrics?cluster_id=default");
    assert_eq!(status, 200);
    assert_eq!(old["nodes"][0]["node_name"], "edge-a");
    let (status, old_one) = get_json(port, "/api/v2/node-metrics/edge-a?cluster_id=default");
    assert_eq!(
        (status, old_one["node_name"].as_str()),
        (200, Some("edge-a"))
    );
    wait_until("two history points", Duration::from_secs(10), || {
        get_json(
            port,
            "/api/v2/clusters/default/node-metrics/edge-a/history?hours=1",
        )
        .1["history"]
            .as_array()
            .is_some_and(|h| h.len() >= 2)
    });
    let (status, history) = get_json(
        port,
        "/api/v2/clusters/default/node-metrics/edge-a/history?hours=1",
    );
    assert_eq!(status, 200);
    assert_keys(
        &history,
        &["node_name", "hours", "start", "end", "history"],
        "history",
    );
    assert_keys(
        &history["history"][0],
        &[
            "timestamp",
            "node_name",
            "cpu_usage",
            "memory_usage",
            "disk_usage",
            "disk_io_read",
            "disk_io_write",
            "network_rx",
            "network_tx",
            "cpu_temp",
            "load_1",
        ],
        "point",
    );
    let (status, old_history) = get_json(
        port,
        "/api/v2/node-metrics/edge-a/history?cluster_id=default&hours=2",
    );
    assert_eq!(status, 200);
    assert_keys(
        &old_history,
        &["node_name", "start", "end", "data"],
        "old history",
    );

    // Error statuses, all JSON.
    for (path, expected) in [
        ("/api/v2/clusters/default/node-metrics/nope", 404),
        ("/api/v2/clusters/other/node-metrics", 404),
        ("/api/v2/node-metrics", 400),
        (
            "/api/v2/clusters/default/node-metrics/edge-a/history?hours=0",
            400,
        ),
        (
            "/api/v2/clusters/default/node-metrics/edge-a/history?hours=abc",
            400,
        ),
        (
            "/api/v2/clusters/default/node-metrics/edge-a/history?hours=100000",
            400,
        ),
    ] {
        let (status, body) = get_json(port, path);
        assert_eq!(status, expected, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, body) = request(port, "DELETE", list, &[], b"");
    assert_eq!(status, 405);
    assert!(body.contains("\"error\""), "{body}");
    let (status, own) = request(port, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(
        own.contains("edge_master_scrape_up{node=\"edge-a\",target=\"http://127.0.0.1:"),
        "{own}"
    );
    assert_eq!(request(port, "GET", "/readyz", &[], b"").0, 200);

    // A stopped exporter: offline after 3 missed intervals, still listed.
    drop(exporter);
    wait_until("the node offline", Duration::from_secs(10), || {
        let body = get_json(port, list).1;
        body["nodes"][0]["status"] == "offline" && body["summary"]["offline_nodes"] == 1
    });
    let body = get_json(port, list).1;
    assert_eq!(body["summary"]["online_nodes"], 0);
    assert_eq!(body["nodes"][0]["node_name"], "edge-a");
    drop(busy);
}

fn snapshot_json(node: &str, cpu: f64) -> String {
    serde_json::json!({
        "node_name": node,
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "cpu": {"usage_percent": cpu, "threads": 4},
        "memory": {"total": 1000, "used": 500, "usage_percent": 50.0},
        "disks": [{"device": "/dev/sda1", "mount_point": "/", "total": 100, "used": 25, "usage_percent": 25.0}],
    })
    .to_string()
}

#[test]
fn pushes_survive_restarts_and_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("push.db");
    let token = ["--push-token=s3cret".to_string()];
    let auth = [
        ("Authorization", "Bearer s3cret"),
        ("Content-Type", "application/json"),
    ];
    let (master, port) = start_master(&db, &token);

    let body = snapshot_json("pushed-1", 42.0);
    assert_eq!(
        request(port, "POST", "/metrics/node", &[], body.as_bytes()).0,
        401
    );
    assert_eq!(
        request(
            port,
            "POST",
            "/metrics/node",
            &[("Authorization", "Bearer wrong")],
            body.as_bytes()
        )
        .0,
        401
    );
    let (status, reply) = request(port, "POST", "/metrics/node", &auth, body.as_bytes());
    assert_eq!((status, reply.trim()), (200, r#"{"status":"ok"}"#));
    assert_eq!(
        request(port, "POST", "/metrics/node", &auth, b"{not json").0,
        400
    );
    assert_eq!(
        request(port, "POST", "/metrics/node", &auth, br#"{"cpu":{}}"#).0,
        400
    );
    let big = format!(
        "{{\"node_name\":\"x\",\"hostname\":\"{}\"}}",
        "a".repeat(1 << 20)
    );
    assert_eq!(
        request(port, "POST", "/metrics/node", &auth, big.as_bytes()).0,
        413
    );
    let (_, list) = get_json(port, "/api/v2/clusters/default/node-metrics");
    assert_eq!(list["nodes"][0]["node_name"], "pushed-1");
    assert_eq!(list["nodes"][0]["cpu"]["usage_percent"], 42.0);

    // kill -9 while pushes are being written, several times: the file always opens and
    // passes integrity_check.
    drop(master);
    for round in 0..4 {
        let (master, port) = start_master(&db, &token);
        let pusher = std::thread::spawn(move || {
            for i in 0..10_000 {
                let body = snapshot_json(&format!("node-{}", i % 20), f64::from(i % 100));
                if request_quietly(port, &body).is_err() {
                    break;
                }
            }
        });
        sleep(Duration::from_millis(300 + 150 * round));
        drop(master); // SIGKILL
        let _ = pusher.join();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "after kill -9 number {round}");
    }

    // A restart keeps the history of what was pushed before.
    let (_master, port) = start_master(&db, &token);
    let (status, history) = get_json(
        port,
        "/api/v2/clusters/default/node-metrics/pushed-1/history?hours=1",
    );
    assert_eq!(status, 200);
    assert!(
        !history["history"].as_array().unwrap().is_empty(),
        "{history}"
    );
    assert_eq!(history["history"][0]["cpu_usage"], 42.0);
    let (_, list) = get_json(port, "/api/v2/clusters/default/node-metrics");
    assert!(list["nodes"].as_array().unwrap().len() >= 2, "{list}");
}

/// One authorised push; Err when the server is gone.
fn request_quietly(port: u16, body: &str) -> Result<(), ureq::Error> {
    let auth = [
        ("Authorization", "Bearer s3cret"),
        ("Content-Type", "application/json"),
    ];
    try_request(port, "POST", "/metrics/node", &auth, body.as_bytes()).map(drop)
}

#[test]
fn bad_flags_exit_2_with_the_flag_named() {
    for (flag, expected) in [
        ("--retention=soon", "edge-master: error: --retention: "),
        ("--target=ftp://x", "edge-master: error: --target: "),
        ("--listen=nowhere", "edge-master: error: --listen: "),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_edge-master"))
            .arg(flag)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.starts_with(expected), "{flag}: {stderr}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_edge-master"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--db",
        "--cluster-id",
        "--target",
        "--discover-dns",
        "--scrape-interval",
        "--sample-interval",
        "--retention",
        "--cleanup-interval",
        "--push-token",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn a_plain_node_exporter_target_yields_what_it_has() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: scripts/test.sh installs it"
    );
    let tmp = tempfile::tempdir().unwrap();
    let ne_port = free_port();
    let _ne = spawn(
        NODE_EXPORTER,
        &[format!("--web.listen-address=127.0.0.1:{ne_port}")],
    );
    let (_master, port) = start_master(
        &tmp.path().join("ne.db"),
        &[format!("--target=127.0.0.1:{ne_port}")],
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let mut body = Value::Null;
    wait_until(
        "the node_exporter node with CPU usage",
        Duration::from_secs(20),
        || {
            body = get_json(port, "/api/v2/clusters/default/node-metrics").1;
            body["nodes"][0]["cpu"]["usage_percent"]
                .as_f64()
                .unwrap_or(0.0)
                > 0.0
        },
    );
    let node = &body["nodes"][0];
    // No edge_node_info: the name comes from node_uname_info.
    assert_eq!(node["node_name"], hostname.as_str());
    assert!(node["memory"]["total"].as_u64().unwrap() > 0);
    assert_eq!(node["processes"], serde_json::json!([]));
    assert!(!node["networks"].as_array().unwrap().is_empty());
}
