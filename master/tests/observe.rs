//! atlhyper's observe routes against a master scraping a real edge-exporter on
//! loopback (this host's /proc and /sys): every route, the envelope, the keys and
//! types of each block, status codes and error bodies, CORS, and values checked
//! against what the exporter itself serves (e.g. `system.filefdMax` is
//! `node_filefd_maximum`).

use std::time::Duration;

use serde_json::Value;

mod support;
use support::http::{get, get_url_text, start_master, wait_until};
use support::{edge_exporter, free_port, spawn};

/// The sorted keys of an object.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

fn sorted<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys
}

/// The value of an unlabelled sample in Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Each key is there and its value has the JSON type named: "n" number, "s" string,
/// "b" bool, "a" array, "o" object.
fn assert_types(value: &Value, expected: &[(&str, &str)], what: &str) {
    let names: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys(value), sorted(&names), "{what}: {value}");
    for (key, kind) in expected {
        let v = &value[*key];
        let ok = match *kind {
            "n" => v.is_number(),
            "u" => v.is_u64(),
            "s" => v.is_string(),
            "b" => v.is_boolean(),
            "a" => v.is_array(),
            "o" => v.is_object(),
            other => panic!("no type {other}"),
        };
        assert!(ok, "{what}.{key} is not {kind}: {v}");
    }
}

#[test]
fn observe_routes_serve_a_scraped_edge_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            "--node-name=edge-a".into(),
        ],
    );
    let (_master, port) = start_master(
        &tmp.path().join("m.db"),
        &[format!("--target=127.0.0.1:{exporter_port}")],
    );

    // R1: the cluster, with the gate the page checks.
    let clusters = get(port, "/api/v2/clusters").json();
    assert_eq!(clusters["clusters"][0]["clusterId"], "default");
    assert_eq!(clusters["clusters"][0]["otelAvailable"], true);

    // R3 once two scrapes gave rates.
    let mut nodes = Value::Null;
    wait_until("a node with CPU usage", Duration::from_secs(20), || {
        nodes = get(port, "/api/v2/observe/metrics/nodes?cluster_id=default").json();
        nodes["data"][0]["cpu"]["usagePct"].as_f64().unwrap_or(0.0) > 0.0
    });
    let answer = get(port, "/api/v2/observe/metrics/nodes?cluster_id=default");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.allow_origin.as_deref(), Some("*"));
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let nodes = answer.json();
    assert_eq!(keys(&nodes), ["data", "message"]);
    assert_eq!(nodes["message"], "获取成功");
    let node = &nodes["data"][0];
    assert_types(
        node,
        &[
            ("nodeName", "s"),
            ("nodeIP", "s"),
            ("timestamp", "s"),
            ("status", "s"),
            ("cpu", "o"),
            ("memory", "o"),
            ("disks", "a"),
            ("networks", "a"),
            ("temperature", "o"),
            ("psi", "o"),
            ("tcp", "o"),
            ("system", "o"),
            ("vmstat", "o"),
            ("softnet", "o"),
            ("kernel", "s"),
            ("uptime", "u"),
        ],
        "node",
    );
    assert_eq!(node["nodeName"], "edge-a");
    // Scraped by IP: the target's host.
    assert_eq!(node["nodeIP"], "127.0.0.1");
    assert!(chrono::DateTime::parse_from_rfc3339(node["timestamp"].as_str().unwrap()).is_ok());
    assert_types(
        &node["cpu"],
        &[
            ("usagePct", "n"),
            ("userPct", "n"),
            ("systemPct", "n"),
            ("iowaitPct", "n"),
            ("load1", "n"),
            ("load5", "n"),
            ("load15", "n"),
            ("cores", "u"),
        ],
        "cpu",
    );
    assert_types(
        &node["memory"],
        &[
            ("totalBytes", "u"),
            ("availableBytes", "u"),
            ("freeBytes", "u"),
            ("cachedBytes", "u"),
            ("buffersBytes", "u"),
            ("usagePct", "n"),
            ("swapTotalBytes", "u"),
            ("swapFreeBytes", "u"),
            ("swapUsagePct", "n"),
        ],
        "memory",
    );
    for disk in node["disks"].as_array().unwrap() {
        assert_types(
            disk,
            &[
                ("device", "s"),
                ("mountPoint", "s"),
                ("fsType", "s"),
                ("totalBytes", "u"),
                ("availBytes", "u"),
                ("usagePct", "n"),
                ("readBytesPerSec", "n"),
                ("writeBytesPerSec", "n"),
                ("readIOPS", "n"),
                ("writeIOPS", "n"),
                ("ioUtilPct", "n"),
            ],
            "disk",
        );
    }
    for network in node["networks"].as_array().unwrap() {
        assert_types(
            network,
            &[
                ("interface", "s"),
                ("up", "b"),
                ("speedBps", "n"),
                ("mtu", "n"),
                ("rxBytesPerSec", "n"),
                ("txBytesPerSec", "n"),
                ("rxPktPerSec", "n"),
                ("txPktPerSec", "n"),
                ("rxErrPerSec", "n"),
                ("txErrPerSec", "n"),
                ("rxDropPerSec", "n"),
                ("txDropPerSec", "n"),
            ],
            "network",
        );
    }
    assert_types(
        &node["temperature"],
        &[
            ("cpuTempC", "n"),
            ("cpuMaxC", "n"),
            ("cpuCritC", "n"),
            ("sensors", "a"),
        ],
        "temperature",
    );
    assert_types(
        &node["psi"],
        &[
            ("cpuSomePct", "n"),
            ("memSomePct", "n"),
            ("memFullPct", "n"),
            ("ioSomePct", "n"),
            ("ioFullPct", "n"),
        ],
        "psi",
    );
    assert_types(
        &node["tcp"],
        &[
            ("currEstab", "u"),
            ("alloc", "u"),
            ("inUse", "u"),
            ("timeWait", "u"),
            ("socketsUsed", "u"),
        ],
        "tcp",
    );
    assert_types(
        &node["system"],
        &[
            ("conntrackEntries", "u"),
            ("conntrackLimit", "u"),
            ("filefdAllocated", "u"),
            ("filefdMax", "u"),
            ("entropyBits", "u"),
        ],
        "system",
    );
    assert_types(
        &node["vmstat"],
        &[
            ("pgFaultPerSec", "n"),
            ("pgMajFaultPerSec", "n"),
            ("pswpInPerSec", "n"),
            ("pswpOutPerSec", "n"),
        ],
        "vmstat",
    );
    assert_types(
        &node["softnet"],
        &[("droppedPerSec", "n"), ("squeezedPerSec", "n")],
        "softnet",
    );
    for block in ["cpu", "memory", "psi"] {
        for (key, value) in node[block].as_object().unwrap() {
            if key.ends_with("Pct") {
                let pct = value.as_f64().unwrap();
                assert!((0.0..=100.0).contains(&pct), "{block}.{key} = {pct}");
            }
        }
    }

    // Values as the exporter serves them (kernel constants: they do not move between
    // the master's scrape and ours).
    let exported = get_url_text(&format!("http://127.0.0.1:{exporter_port}/metrics"));
    let system = &node["system"];
    assert_eq!(
        system["filefdMax"].as_u64().unwrap() as f64,
        sample(&exported, "node_filefd_maximum")
    );
    if exported.contains("\nnode_nf_conntrack_entries_limit ") {
        assert_eq!(
            system["conntrackLimit"].as_u64().unwrap() as f64,
            sample(&exported, "node_nf_conntrack_entries_limit")
        );
    }
    assert_eq!(
        node["memory"]["totalBytes"].as_u64().unwrap() as f64,
        sample(&exported, "node_memory_MemTotal_bytes")
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(node["kernel"], kernel.trim());
    assert!(node["uptime"].as_u64().unwrap() > 0);
    assert!(node["tcp"]["socketsUsed"].as_u64().unwrap() > 0);
    // Logical CPUs.
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    assert_eq!(node["cpu"]["cores"], cpus);

    // R2.
    let summary = get(port, "/api/v2/observe/metrics/summary?cluster_id=default").json();
    assert_eq!(summary["message"], "获取成功");
    assert_types(
        &summary["data"],
        &[
            ("totalNodes", "u"),
            ("onlineNodes", "u"),
            ("avgCpuPct", "n"),
            ("avgMemPct", "n"),
            ("maxCpuPct", "n"),
            ("maxMemPct", "n"),
            ("maxCpuTemp", "n"),
        ],
        "summary",
    );
    assert_eq!(summary["data"]["totalNodes"], 1);
    assert_eq!(summary["data"]["onlineNodes"], 1);

    // R5.
    let one = get(
        port,
        "/api/v2/observe/metrics/nodes/edge-a?cluster_id=default",
    )
    .json();
    assert_eq!(one["data"]["nodeName"], "edge-a");
    assert_eq!(keys(&one["data"]), keys(node));

    // R6: CPU usage points, one per sample interval.
    let mut series = Value::Null;
    wait_until("two CPU points", Duration::from_secs(20), || {
        series = get(
            port,
            "/api/v2/observe/metrics/nodes/edge-a/series?cluster_id=default&metric=cpu_usage&minutes=5",
        )
        .json();
        series["data"]["points"]
            .as_array()
            .is_some_and(|p| p.len() >= 2)
    });
    assert_eq!(series["data"]["metric"], "cpu_usage");
    for point in series["data"]["points"].as_array().unwrap() {
        assert_eq!(keys(point), ["timestamp", "value"]);
        let value = point["value"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&value), "{value}");
    }

    // A value kept beside the history point: sockets in use, a count above 0.
    let sockets = get(
        port,
        "/api/v2/observe/metrics/nodes/edge-a/series?cluster_id=default&metric=sockets_used&minutes=5",
    )
    .json();
    assert_eq!(sockets["data"]["metric"], "sockets_used");
    let first = sockets["data"]["points"][0]["value"].as_f64().unwrap();
    assert!(first > 0.0 && first.fract() == 0.0, "{first}");

    // Errors: status and body.
    for (path, status, message) in [
        (
            "/api/v2/observe/metrics/nodes",
            400,
            "cluster_id is required",
        ),
        (
            "/api/v2/observe/metrics/summary?cluster_id=elsewhere",
            404,
            "数据尚未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes/nobody?cluster_id=default",
            404,
            "节点未找到",
        ),
        (
            "/api/v2/observe/metrics/nodes/?cluster_id=default",
            400,
            "node name is required",
        ),
    ] {
        let answer = get(port, path);
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert_eq!(
            answer.json(),
            serde_json::json!({ "error": message }),
            "{path}"
        );
        assert_eq!(answer.allow_origin.as_deref(), Some("*"), "{path}");
    }
}

#[test]
fn the_current_history_shape_from_a_scraped_edge_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            "--node-name=edge-h".into(),
        ],
    );
    let (_master, port) = start_master(
        &tmp.path().join("m.db"),
        &[
            format!("--target=127.0.0.1:{exporter_port}"),
            "--atlhyper-api=current".into(),
        ],
    );
    let path = "/api/v2/node-metrics/edge-h/history?cluster_id=default&hours=1";
    let mut body = Value::Null;
    wait_until("a CPU point", Duration::from_secs(20), || {
        let answer = get(port, path);
        body = answer.json();
        answer.status == 200
            && body["data"]["cpu"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(keys(&body), ["data", "end", "nodeName", "start"]);
    assert_eq!(body["nodeName"], "edge-h");
    for time in ["start", "end"] {
        assert!(chrono::DateTime::parse_from_rfc3339(body[time].as_str().unwrap()).is_ok());
    }
    assert_eq!(keys(&body["data"]), ["cpu", "disk", "memory", "temp"]);
    for series in ["cpu", "disk", "memory", "temp"] {
        for point in body["data"][series].as_array().unwrap() {
            assert_eq!(keys(point), ["timestamp", "value"], "{series}");
            // A minute's start, to the second, in UTC.
            let stamp = point["timestamp"].as_str().unwrap();
            assert!(stamp.ends_with(":00Z") && stamp.len() == 20, "{stamp}");
            assert!(point["value"].is_number(), "{series}");
        }
    }
    let cpu = body["data"]["cpu"][0]["value"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    // Errors as the v2 shape's.
    let answer = get(port, "/api/v2/node-metrics/edge-h/history?hours=1");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.allow_origin.as_deref(), Some("*"));
}
