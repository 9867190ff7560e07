//! The PromQL source against real backends on loopback: one edge-exporter, scraped
//! every second by Debian's vmagent, which remote-writes into Prometheus (its
//! remote-write receiver) and VictoriaMetrics (single node). Four masters: one scraping
//! the exporter itself, two replicas in PromQL mode on Prometheus and one on
//! VictoriaMetrics.
//!
//! - The replicas answer the same list, byte for byte.
//! - Prometheus and VictoriaMetrics, evaluated at the same aligned time, give the same
//!   gauges (vmagent sent them the same samples); rates agree within `RATE_TOLERANCE`
//!   (the backends' `rate()` differ: Prometheus extrapolates to the window's edges,
//!   VictoriaMetrics does not).
//! - Against the direct scrape, identity fields are equal and live values agree within
//!   the tolerances listed in `live_tolerances` (taken at different moments on a
//!   machine that may be busy).
//! - The exporter stopped, the PromQL node goes offline by `--offline-after`.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::http::{get, try_get, wait_until};
use support::{edge_exporter, free_port, spawn, Server};

const NODE: &str = "edge-a";
const LIST: &str = "/api/v2/clusters/default/node-metrics";

fn node_path() -> String {
    format!("{LIST}/{NODE}")
}

fn start(args: Vec<String>) -> (Server, u16) {
    let port = free_port();
    let mut all = vec![format!("--listen=127.0.0.1:{port}")];
    all.extend(args);
    let server = spawn(env!("CARGO_BIN_EXE_edge-master"), &all);
    wait_until("edge-master answering", Duration::from_secs(10), || {
        try_get(port, "/healthz").is_ok_and(|a| a.status == 200)
    });
    (server, port)
}

fn promql_master(db: &std::path::Path, backend: &str, extra: &[&str]) -> (Server, u16) {
    let mut args = vec![
        format!("--db={}", db.display()),
        format!("--source=prometheus={backend}"),
        "--scrape-interval=1s".into(),
        "--source.node-label=node".into(),
        // Above VictoriaMetrics' -search.latencyOffset (1s here) and vmagent's
        // one-second flush.
        "--source.delay=3s".into(),
        // Names, sizes and processes asked every third round, the rounds between
        // reusing them (as every 60 s by default).
        "--source.slow-interval=3s".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    start(args)
}

fn number(value: &Value, path: &str) -> f64 {
    value
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path}"))
}

/// The fields of a node every source must give equally: what the node is.
const IDENTITY: &[&str] = &[
    "/node_name",
    "/hostname",
    "/os",
    "/kernel",
    "/node_ip",
    "/cpu/model",
    "/cpu/cores",
    "/cpu/threads",
    "/memory/total",
    "/memory/swap_total",
    "/system/conntrack_limit",
    "/system/filefd_max",
];

/// Per field, how far a value through a backend may be from the direct scrape's
/// (absolute, in the field's unit). The two are read from different samples, up to a
/// few seconds apart, on a machine other tests keep busy: only values that move
/// slowly are compared here (socket and file-handle counts, the load of the last
/// minute and CPU shares swing by thousands and by tens of points in a second, and
/// are compared between the two backends instead, which read the same samples).
fn live_tolerances() -> Vec<(&'static str, f64)> {
    vec![
        ("/uptime", 30.0),
        ("/memory/usage_percent", 25.0),
        ("/cpu/load_15", 2.0),
        ("/temperature/cpu_temp", 10.0),
        ("/disks/0/usage_percent", 5.0),
    ]
}

/// Rates through the two backends, same window, same samples, different `rate()`.
const RATE_TOLERANCE: &[(&str, f64)] = &[
    ("/cpu/usage_percent", 30.0),
    ("/cpu/user_percent", 30.0),
    ("/cpu/system_percent", 30.0),
    ("/cpu/idle_percent", 30.0),
    ("/psi/cpu_some_percent", 40.0),
];

/// Gauges the two backends must give equally at one evaluation time (to
/// VictoriaMetrics' precision: it keeps 12 significant decimal digits).
const GAUGES: &[&str] = &[
    "/timestamp",
    "/uptime",
    "/cpu/load_1",
    "/cpu/load_5",
    "/cpu/frequency",
    "/memory",
    "/tcp",
    "/system",
    "/temperature",
    "/disks/0/total",
    "/disks/0/used",
    "/disks/0/read_bytes",
    "/networks/0/rx_bytes",
    "/processes",
];

#[test]
fn promql_masters_agree_with_scraping_and_with_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let exporter_port = free_port();
    let mut exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            format!("--node-name={NODE}"),
        ],
    );

    let prometheus_port = free_port();
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let _prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prometheus").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            "--web.enable-remote-write-receiver".into(),
        ],
    );
    let vm_port = free_port();
    let _victoria = spawn(
        "victoria-metrics",
        &[
            format!("-storageDataPath={}", dir.join("vm").display()),
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            "-search.latencyOffset=1s".into(),
        ],
    );
    // The node label as our manifests' vmagent would give it (there: instance =
    // the node name; here a label of its own, so that instance stays host:port and
    // node_ip comes out as when scraping).
    std::fs::write(
        dir.join("scrape.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge-exporter\n    static_configs:\n      - targets: [\"127.0.0.1:{exporter_port}\"]\n        labels: {{node: {NODE}}}\n"
        ),
    )
    .unwrap();
    let _vmagent = spawn(
        "vmagent",
        &[
            format!("-promscrape.config={}", dir.join("scrape.yml").display()),
            format!("-remoteWrite.url=http://127.0.0.1:{prometheus_port}/api/v1/write"),
            format!("-remoteWrite.url=http://127.0.0.1:{vm_port}/api/v1/write"),
            "-remoteWrite.flushInterval=1s".into(),
            format!("-remoteWrite.tmpDataPath={}", dir.join("vmagent").display()),
            format!("-httpListenAddr=127.0.0.1:{}", free_port()),
        ],
    );

    let (_direct, direct) = start(vec![
        format!("--db={}", dir.join("direct.db").display()),
        format!("--target=127.0.0.1:{exporter_port}"),
        "--scrape-interval=1s".into(),
    ]);
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");
    // History from the backend is the default; replica b shows it in atlhyper's
    // current shape, replica a in the v2 one.
    let (_a, replica_a) = promql_master(&dir.join("a.db"), &prometheus, &[]);
    let (_b, replica_b) = promql_master(
        &dir.join("b.db"),
        &prometheus,
        &["--atlhyper-api=current", "--source.history=backend"],
    );
    let (_vm, on_vm) = promql_master(
        &dir.join("vm.db"),
        &format!("http://127.0.0.1:{vm_port}"),
        &[],
    );

    let online = |port: u16| {
        let answer = try_get(port, &node_path());
        answer.is_ok_and(|a| {
            // Rates need the window filled: 4 samples of CPU seconds.
            a.status == 200
                && a.json()["status"] == "online"
                && a.json()["cpu"]["usage_percent"].as_f64() > Some(0.0)
        })
    };
    for (what, port) in [
        ("direct", direct),
        ("replica a", replica_a),
        ("replica b", replica_b),
        ("on VictoriaMetrics", on_vm),
    ] {
        wait_until(what, Duration::from_secs(30), || online(port));
    }

    // Replicas: the same list, read in the middle of a round interval (rounds start
    // 100 ms after each aligned second plus the delay); a read may still straddle a
    // round, so a few tries.
    let mut same = false;
    for _ in 0..10 {
        wait_for_mid_second();
        let (a, b) = (get(replica_a, LIST).body, get(replica_b, LIST).body);
        if a == b {
            assert!(a.contains(&format!("\"node_name\":\"{NODE}\"")), "{a}");
            same = true;
            break;
        }
    }
    assert!(same, "the replicas never answered the same list");

    // Prometheus and VictoriaMetrics at the same evaluation time.
    let mut compared = false;
    let mut last_difference = String::from("never the same evaluation time");
    for _ in 0..10 {
        wait_for_mid_second();
        let (p, v) = (
            get(replica_a, &node_path()).json(),
            get(on_vm, &node_path()).json(),
        );
        if p["timestamp"] != v["timestamp"] {
            continue;
        }
        // VictoriaMetrics may not hold every family of the newest samples yet (its remote
        // write arrives in batches): a round where they differ is tried again; they must
        // agree in one of the rounds.
        if let Err(difference) = backends_agree(&p, &v) {
            last_difference = difference;
            continue;
        }
        // Printed, not asserted: the two rate() definitions over a busy machine.
        println!(
            "Prometheus / VictoriaMetrics: cpu usage % {:.2} / {:.2}; disk 0 write B/s {:.0} / {:.0}; pgfault/s {:.1} / {:.1}",
            number(&p, "/cpu/usage_percent"),
            number(&v, "/cpu/usage_percent"),
            number(&p, "/disks/0/write_rate"),
            number(&v, "/disks/0/write_rate"),
            number(&p, "/vmstat/pgfault_rate"),
            number(&v, "/vmstat/pgfault_rate"),
        );
        compared = true;
        break;
    }
    assert!(
        compared,
        "Prometheus and VictoriaMetrics never agreed at one evaluation time: {last_difference}"
    );

    // Against the direct scrape.
    let scraped = get(direct, &node_path()).json();
    for (name, port) in [("Prometheus", replica_a), ("VictoriaMetrics", on_vm)] {
        let through = get(port, &node_path()).json();
        for field in IDENTITY {
            assert_eq!(
                scraped.pointer(field),
                through.pointer(field),
                "{name}: {field}"
            );
        }
        let list = |node: &Value, path: &str, key: &str| -> Vec<Value> {
            node.pointer(path)
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("no {path}"))
                .iter()
                .map(|item| item[key].clone())
                .collect()
        };
        for (path, key) in [
            ("/disks", "mount_point"),
            ("/disks", "total"),
            ("/networks", "interface"),
            ("/networks", "mac_address"),
            ("/networks", "mtu"),
            ("/temperature/sensors", "name"),
        ] {
            assert_eq!(
                list(&scraped, path, key),
                list(&through, path, key),
                "{name}: {path} {key}"
            );
        }
        assert_eq!(
            scraped["cpu"]["per_core"].as_array().map(Vec::len),
            through["cpu"]["per_core"].as_array().map(Vec::len),
            "{name}: per_core"
        );
        for (field, tolerance) in live_tolerances() {
            let (a, b) = (number(&scraped, field), number(&through, field));
            assert!(
                (a - b).abs() <= tolerance,
                "{name}: {field}: scraped {a}, through {b}"
            );
        }
    }

    check_history(direct, replica_a, replica_b, on_vm);

    // The exporter stops: vmagent marks its series stale, the backend stops answering
    // them, and the node is offline once --offline-after (3 × 1 s) has passed since its
    // last sample (plus the delay).
    let _ = exporter.0.kill();
    let _ = exporter.0.wait();
    wait_until(
        "the node offline through Prometheus",
        Duration::from_secs(20),
        || get(replica_a, &node_path()).json()["status"] == "offline",
    );
}

/// Per history field, how far a point from the backend may be from the direct
/// master's newest point (its sampler keeps one every 5 minutes: the first scrape's).
/// Slow values only, as in `live_tolerances`; the rest are checked for range.
const HISTORY_TOLERANCES: &[(&str, f64)] = &[
    ("memory_usage", 25.0),
    ("disk_usage", 5.0),
    ("cpu_temp", 10.0),
];

/// `/history` through the backends: points at the 60 s steps of a 1-hour window,
/// answered by `query_range`, close to the direct master's sampled history; the same
/// through the legacy route in both shapes.
fn check_history(direct: u16, replica_a: u16, replica_b: u16, on_vm: u16) {
    let route = format!("{LIST}/{NODE}/history?hours=1");
    let legacy = format!("/api/v2/node-metrics/{NODE}/history?cluster_id=default&hours=1");
    let points = |port: u16, path: &str, key: &str| -> Vec<Value> {
        get(port, path).json()[key]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let scraped = points(direct, &route, "history");
    let newest_scraped = scraped
        .last()
        .expect("the direct master has a history point");
    // A point needs a whole minute that the node was up at, with rates: up to a
    // minute's wait.
    for (name, port) in [("Prometheus", replica_a), ("VictoriaMetrics", on_vm)] {
        wait_until(
            &format!("a history point through {name}"),
            Duration::from_secs(75),
            || {
                points(port, &route, "history")
                    .iter()
                    .any(|p| p["cpu_usage"].as_f64() > Some(0.0))
            },
        );
        let history = points(port, &route, "history");
        for point in &history {
            let time = point["timestamp"].as_str().unwrap();
            let time = chrono::DateTime::parse_from_rfc3339(time).unwrap();
            assert_eq!(time.timestamp() % 60, 0, "{name}: a step time: {point}");
            assert_eq!(point["node_name"], NODE, "{name}");
            for (field, tolerance) in HISTORY_TOLERANCES {
                let (a, b) = (
                    number(newest_scraped, &format!("/{field}")),
                    number(point, &format!("/{field}")),
                );
                assert!(
                    (a - b).abs() <= *tolerance,
                    "{name}: history {field}: scraped {a}, through {b}"
                );
            }
            // Made from the node's families at the step: none may be missing.
            for field in ["memory_usage", "disk_usage"] {
                assert!(
                    number(point, &format!("/{field}")) > 0.0,
                    "{name}: {field}: {point}"
                );
            }
            let cpu = number(point, "/cpu_usage");
            assert!((0.0..=100.0).contains(&cpu), "{name}: cpu_usage {cpu}");
            for field in [
                "disk_io_read",
                "disk_io_write",
                "network_rx",
                "network_tx",
                "load_1",
            ] {
                assert!(
                    number(point, &format!("/{field}")) >= 0.0,
                    "{name}: {field}"
                );
            }
        }
        println!(
            "history through {name}: {} points; newest {}; scraped newest {}",
            history.len(),
            history.last().unwrap(),
            newest_scraped
        );
        // The legacy route, v2 shape: the same steps (a minute may have passed).
        let data = points(port, &legacy, "data");
        let times = |points: &[Value]| -> Vec<Value> {
            points.iter().map(|p| p["timestamp"].clone()).collect()
        };
        assert!(
            times(&data).starts_with(&times(&history)[..history.len() - 1]),
            "{name}: legacy v2 history {data:?}"
        );
    }
    // The legacy route in atlhyper's current shape: buckets of 60 s.
    let current = get(replica_b, &legacy).json();
    let cpu = current["data"]["cpu"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!cpu.is_empty(), "current-shape history: {current}");
    assert_eq!(current["nodeName"], NODE);
    assert!(number(&current, "/data/memory/0/value") > 0.0, "{current}");
}

/// The processes (by pid), every gauge and every rate of the two backends' snapshots
/// agree: gauges to `GAUGE_PRECISION`, rates within `RATE_TOLERANCE`.
fn backends_agree(p: &Value, v: &Value) -> Result<(), String> {
    let pids = |node: &Value| -> Vec<i64> {
        node["processes"].as_array().map_or(Vec::new(), |list| {
            list.iter().filter_map(|p| p["pid"].as_i64()).collect()
        })
    };
    if pids(p) != pids(v) {
        return Err(format!("processes: {:?} vs {:?}", pids(p), pids(v)));
    }
    for gauge in GAUGES {
        let a = p.pointer(gauge).ok_or_else(|| format!("no {gauge}"))?;
        same(a, v.pointer(gauge).unwrap_or(&Value::Null), gauge)?;
    }
    for (field, tolerance) in RATE_TOLERANCE {
        let (a, b) = (number(p, field), number(v, field));
        if (a - b).abs() > *tolerance {
            return Err(format!("{field}: Prometheus {a}, VictoriaMetrics {b}"));
        }
    }
    Ok(())
}

/// Strings, booleans and structure equal; numbers to `GAUGE_PRECISION` relative.
fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    let differ = || format!("{path}: Prometheus {a}, VictoriaMetrics {b}");
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > GAUGE_PRECISION * x.abs().max(y.abs()) {
                return Err(differ());
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.keys().ne(y.keys()) {
                return Err(differ());
            }
            for (key, value) in x {
                same(value, &y[key], &format!("{path}/{key}"))?;
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(differ());
            }
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{path}/{i}"))?;
            }
        }
        _ if a != b => return Err(differ()),
        _ => {}
    }
    Ok(())
}

/// VictoriaMetrics keeps 12 significant digits of a float.
const GAUGE_PRECISION: f64 = 1e-11;

/// Sleeps until 500 ms past a whole second.
fn wait_for_mid_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.subsec_millis() as u64;
    let wait = if into <= 500 { 500 - into } else { 1500 - into };
    std::thread::sleep(Duration::from_millis(wait));
}
