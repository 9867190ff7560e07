//! The whole pipeline on loopback, each program run with the settings the manifests
//! give it (only addresses and paths changed):
//!
//! - edge-sidecar runs `scripts/jetson_nano.sh` on the exporter's fixture thermal
//!   zones and writes its `.prom` file into edge-exporter's textfile directory;
//! - two edge-exporters, nodes `edge-1` (with that sidecar) and `edge-2`, on the
//!   fixture sysfs (this machine has no sensors) and the real procfs;
//! - vmagent (Debian's) with the DaemonSet's flags and `manifests/vmagent/scrape.yml`,
//!   its Kubernetes discovery swapped for static targets carrying the same meta labels;
//! - Prometheus 2.x (Debian's) with the Deployment's flags and the ConfigMap's
//!   `prometheus.yml` and `alerts.yml` (remote-write receiver, out-of-order window);
//! - edge-master with its Deployment's flags, discovering edge-1's exporter by DNS.
//!
//! Asserted: edge-master serves edge-1; every dashboard query (variables filled in as Grafana does) returns
//! data; Prometheus stopped for 40 s and started again leaves no gap in the sidecar's
//! series, vmagent's disk queue having held the samples; the alert rules load and
//! EdgeNodeDown fires for the exporter that stopped, and only for it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edge_common::textparse;
use edge_deploy::dashboard;
use edge_deploy::manifest::{flag_value, replace_flag_values};
use serde_json::Value;
use support::{all_in_one, free_port, read, root, tool, workspace_binary, Server};

/// vmagent's scrape interval here (the manifest's is 15 s; shorter keeps the test short).
const SCRAPE_INTERVAL: u64 = 5;
const OUTAGE: Duration = Duration::from_secs(40);

#[test]
fn pipeline_from_script_to_alert_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = all_in_one();
    let fixture_sys = root().join("exporter/tests/fixtures/sys");

    // edge-sidecar, as the DaemonSet runs it, on a config dir shaped like the ConfigMap.
    let config_dir = dir.path().join("edge-sidecar");
    let textfile = dir.path().join("textfile");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::create_dir_all(&textfile).unwrap();
    std::fs::write(config_dir.join("nodes.conf"), "edge-1=jetson_nano:2s\n").unwrap();
    std::fs::copy(
        root().join("scripts/jetson_nano.sh"),
        config_dir.join("jetson_nano.sh"),
    )
    .unwrap();
    let sidecar_args = manifest
        .container_args("DaemonSet", "node-exporter-arm64", "metric-sidecar")
        .unwrap();
    let mut sidecar_values = vec![
        ("--config", path(&config_dir.join("nodes.conf"))),
        ("--output", path(&textfile.join("custom_metrics.prom"))),
    ];
    if flag_value(&sidecar_args, "--listen").is_some() {
        sidecar_values.push(("--listen", format!("127.0.0.1:{}", free_port())));
    }
    let _sidecar = Server::start(
        "edge-sidecar",
        Command::new(workspace_binary("edge-sidecar"))
            .args(replace(&sidecar_args, &sidecar_values))
            .env("NODE_NAME", "edge-1")
            .env("THERMAL_ROOT", fixture_sys.join("class/thermal")),
        &dir.path().join("edge-sidecar.log"),
    );

    // Two edge-exporters with the DaemonSet's flags.
    let exporter_args = manifest
        .container_args("DaemonSet", "node-exporter-arm64", "node-exporter")
        .unwrap();
    let empty_textfile = dir.path().join("textfile-edge-2");
    std::fs::create_dir_all(&empty_textfile).unwrap();
    let mut exporters = Vec::new();
    for (node, textfile) in [("edge-1", &textfile), ("edge-2", &empty_textfile)] {
        let port = free_port();
        let args = replace(
            &exporter_args,
            &[
                ("--path.procfs", "/proc".into()),
                ("--path.sysfs", path(&fixture_sys)),
                ("--path.rootfs", "/".into()),
                ("--web.listen-address", format!("127.0.0.1:{port}")),
                ("--collector.textfile.directory", path(textfile)),
                ("--node-name", node.into()),
            ],
        );
        let server = Server::start(
            node,
            Command::new(workspace_binary("edge-exporter")).args(args),
            &dir.path().join(format!("{node}.log")),
        );
        wait_until_ok(&format!("http://127.0.0.1:{port}/healthz"), &dir);
        exporters.push((node, port, server));
    }

    // Prometheus with the Deployment's flags and the ConfigMap's files.
    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    for file in ["prometheus.yml", "alerts.yml"] {
        std::fs::write(
            prometheus_dir.join(file),
            manifest.config_map_file("prometheus-config", file).unwrap(),
        )
        .unwrap();
    }
    let prometheus_port = free_port();
    let prometheus_args = replace(
        &manifest
            .container_args("Deployment", "prometheus", "prometheus")
            .unwrap(),
        &[
            (
                "--config.file",
                path(&prometheus_dir.join("prometheus.yml")),
            ),
            ("--storage.tsdb.path", path(&prometheus_dir.join("data"))),
            (
                "--web.listen-address",
                format!("127.0.0.1:{prometheus_port}"),
            ),
        ],
    );
    let start_prometheus = || {
        Server::start(
            "prometheus",
            tool("prometheus", "Debian prometheus").args(&prometheus_args),
            &dir.path()
                .join(format!("prometheus-{}.log", unix_now() as u64)),
        )
    };
    let prometheus = start_prometheus();
    let api = Prometheus {
        base: format!("http://127.0.0.1:{prometheus_port}"),
    };
    wait_until_ok(&format!("{}/-/ready", api.base), &dir);

    // vmagent with the DaemonSet's flags, scraping both exporters.
    let scrape_config = dir.path().join("scrape.yml");
    let targets: Vec<(&str, u16)> = exporters.iter().map(|(n, p, _)| (*n, *p)).collect();
    std::fs::write(
        &scrape_config,
        static_scrape_config(
            manifest
                .config_map_file("vmagent-config", "scrape.yml")
                .unwrap(),
            &targets,
        ),
    )
    .unwrap();
    let vmagent_port = free_port();
    let vmagent_args = replace(
        &manifest
            .container_args("DaemonSet", "vmagent", "vmagent")
            .unwrap(),
        &[
            ("-promscrape.config", path(&scrape_config)),
            (
                "-remoteWrite.url",
                format!("http://127.0.0.1:{prometheus_port}/api/v1/write"),
            ),
            (
                "-remoteWrite.tmpDataPath",
                path(&dir.path().join("vmagent-queue")),
            ),
            ("-httpListenAddr", format!("127.0.0.1:{vmagent_port}")),
        ],
    );
    let _vmagent = Server::start(
        "vmagent",
        tool("vmagent", "Debian victoria-metrics")
            .args(&vmagent_args)
            .env("NODE_NAME", "edge-1"),
        &dir.path().join("vmagent.log"),
    );
    let vmagent_base = format!("http://127.0.0.1:{vmagent_port}");
    wait_until_ok(&format!("{vmagent_base}/health"), &dir);

    // 1. Every dashboard query returns data, for each node.
    let started = Instant::now();
    let dashboards = dashboards();
    poll(
        &dir,
        Duration::from_secs(120),
        Duration::from_secs(5),
        || {
            let missing = dashboard_queries_without_data(&api, &dashboards);
            match missing.is_empty() {
                true => Ok(()),
                false => Err(format!("no data for:\n{}", missing.join("\n"))),
            }
        },
    );
    eprintln!(
        "every dashboard query has data {:.0} s after vmagent started",
        started.elapsed().as_secs_f64()
    );
    let value_series = the_sidecars_value_series(&api);
    // edge-master with the Deployment's flags, discovering edge-1's exporter by DNS
    // (`localhost` here, the headless Service in the cluster).
    let master_args = manifest
        .container_args("Deployment", "edge-master", "edge-master")
        .unwrap();
    let cluster = flag_value(&master_args, "--cluster-id")
        .unwrap_or("default")
        .to_string();
    let master_port = free_port();
    let _master = Server::start(
        "edge-master",
        Command::new(workspace_binary("edge-master")).args(replace(
            &master_args,
            &[
                ("--listen", format!("127.0.0.1:{master_port}")),
                ("--db", path(&dir.path().join("edge-master.db"))),
                ("--discover-dns", format!("localhost:{}", targets[0].1)),
            ],
        )),
        &dir.path().join("edge-master.log"),
    );
    wait_until_ok(&format!("http://127.0.0.1:{master_port}/readyz"), &dir);
    let nodes_url =
        format!("http://127.0.0.1:{master_port}/api/v2/node-metrics?cluster_id={cluster}");
    poll(
        &dir,
        Duration::from_secs(60),
        Duration::from_secs(1),
        || {
            let body: Value = serde_json::from_str(&get(&nodes_url)).unwrap();
            let online = body["summary"]["online_nodes"].as_u64();
            match body["nodes"][0]["node_name"] == "edge-1" && online == Some(1) {
                true => Ok(()),
                false => Err(format!("edge-master does not serve edge-1 online: {body}")),
            }
        },
    );
    eprintln!("edge-master serves node edge-1 for cluster {cluster}");

    // At least 30 s of samples before the outage, for the gap check's window.
    let history = Duration::from_secs(30);
    std::thread::sleep(history.saturating_sub(started.elapsed()));

    // 2. edge-2's exporter stops (EdgeNodeDown is checked at the end), then
    //    Prometheus is down for 40 s; vmagent queues on disk meanwhile.
    let (_, _, edge_2) = exporters.pop().unwrap();
    edge_2.stop();
    let edge_2_stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(2 * SCRAPE_INTERVAL));
    let stopped_at = unix_now();
    prometheus.stop();
    std::thread::sleep(OUTAGE / 2);
    let pending = sum_of(
        &get(&format!("{vmagent_base}/metrics")),
        "vm_persistentqueue_bytes_pending",
    );
    assert!(pending > 0.0, "vmagent queued nothing during the outage");
    eprintln!("vmagent's disk queue holds {pending} bytes half-way through the outage");
    std::thread::sleep(OUTAGE - OUTAGE / 2);
    let restarted_at = unix_now();
    let _prometheus = start_prometheus();
    wait_until_ok(&format!("{}/-/ready", api.base), &dir);

    // 3. The replay fills the outage: no gap in the sidecar's series.
    // One deadline for the three: the replay fills them together.
    let replay = Instant::now() + Duration::from_secs(180);
    for series in [
        value_series.as_str(),
        "edge_sidecar_source_success{instance=\"edge-1\"}",
        "up{instance=\"edge-1\"}",
    ] {
        let limit = replay.saturating_duration_since(Instant::now());
        let samples = poll(&dir, limit, Duration::from_secs(5), || {
            gap_check(&api, series, stopped_at - 30.0, restarted_at + 20.0)
                .map_err(|why| format!("{series}: {why}"))
        });
        eprintln!(
            "{series}: {samples} samples from 30 s before the stop to {:.0} s after \
             the restart, none more than {} s apart",
            unix_now() - restarted_at,
            2 * SCRAPE_INTERVAL
        );
    }

    // 4. The rules loaded, and the node-down alert fires for edge-2 only.
    let rules: Value = yaml_serde::from_str(&read("manifests/prometheus/alerts.yml")).unwrap();
    let mut expected: Vec<String> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    let loaded = api.get("/api/v1/rules", &[]);
    let mut names: Vec<String> = loaded["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, expected);
    poll(
        &dir,
        Duration::from_secs(180),
        Duration::from_secs(5),
        || {
            let alerts = api.get("/api/v1/alerts", &[]);
            let down: Vec<(String, String)> = alerts["data"]["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["labels"]["alertname"] == "EdgeNodeDown")
                .map(|a| {
                    (
                        a["labels"]["instance"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        a["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            assert!(
                down.iter().all(|(instance, _)| instance == "edge-2"),
                "{down:?}"
            );
            match down.iter().any(|(_, state)| state == "firing") {
                true => Ok(()),
                false => Err(format!("EdgeNodeDown never fired: {down:?}")),
            }
        },
    );
    eprintln!(
        "EdgeNodeDown fires for edge-2 {:.0} s after its exporter stopped",
        edge_2_stopped.elapsed().as_secs_f64()
    );
    let health = api.get("/api/v1/rules", &[]);
    for group in health["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
        }
    }
}

/// `args` with the listed flags' values replaced (each must be there).
fn replace(args: &[String], values: &[(&str, String)]) -> Vec<String> {
    let values: Vec<(&str, &str)> = values.iter().map(|(f, v)| (*f, v.as_str())).collect();
    replace_flag_values(args, &values).unwrap()
}

fn path(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The manifest's scrape config with each Kubernetes discovery replaced by static
/// targets that carry the meta labels the pod discovery gives an exporter pod.
fn static_scrape_config(config: &str, targets: &[(&str, u16)]) -> String {
    let mut config: yaml_serde::Value = yaml_serde::from_str(config).unwrap();
    config["global"]["scrape_interval"] = format!("{SCRAPE_INTERVAL}s").into();
    config["global"]["scrape_timeout"] = format!("{}s", SCRAPE_INTERVAL - 1).into();
    let mut replaced = 0;
    for job in config["scrape_configs"].as_sequence_mut().unwrap() {
        let job = job.as_mapping_mut().unwrap();
        if job.remove("kubernetes_sd_configs").is_none() {
            continue;
        }
        replaced += 1;
        let statics: Vec<yaml_serde::Value> = targets
            .iter()
            .map(|(node, port)| {
                let text = format!(
                    "targets: ['127.0.0.1:{port}']\nlabels:\n  \
                     __meta_kubernetes_namespace: monitoring\n  \
                     __meta_kubernetes_pod_name: node-exporter-arm64-{node}\n  \
                     __meta_kubernetes_pod_node_name: {node}\n  \
                     __meta_kubernetes_pod_container_name: node-exporter\n  \
                     __meta_kubernetes_pod_container_port_name: metrics\n  \
                     __meta_kubernetes_pod_label_app_kubernetes_io_name: node-exporter\n"
                );
                yaml_serde::from_str(&text).unwrap()
            })
            .collect();
        job.insert("static_configs".into(), statics.into());
    }
    assert_eq!(replaced, 1, "one job discovers the exporters");
    yaml_serde::to_string(&config).unwrap()
}

struct Prometheus {
    base: String,
}

impl Prometheus {
    fn get(&self, route: &str, query: &[(&str, &str)]) -> Value {
        let mut request = ureq::get(format!("{}{route}", self.base));
        for (name, value) in query {
            request = request.query(*name, *value);
        }
        let body = request
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("{route} {query:?}: {e}"));
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["status"], "success", "{body}");
        value
    }

    /// An instant query's result.
    fn query(&self, expr: &str) -> Vec<Value> {
        self.get("/api/v1/query", &[("query", expr)])["data"]["result"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Both dashboards, by file.
fn dashboards() -> Vec<(&'static str, Value)> {
    [
        "grafana/dashboards/node-overview.json",
        "grafana/dashboards/edge-sensors.json",
    ]
    .map(|file| (file, serde_json::from_str(&read(file)).unwrap()))
    .to_vec()
}

/// Each dashboard query (and each `label_values` variable) that returns nothing, for
/// either node.
fn dashboard_queries_without_data(api: &Prometheus, dashboards: &[(&str, Value)]) -> Vec<String> {
    let mut missing = Vec::new();
    for (file, board) in dashboards {
        let nodes: &[&str] = if file.ends_with("edge-sensors.json") {
            &["edge-1"]
        } else {
            &["edge-1", "edge-2"]
        };
        for variable in board["templating"]["list"].as_array().unwrap() {
            let Some(query) = variable["query"]
                .as_str()
                .or(variable["query"]["query"].as_str())
            else {
                continue;
            };
            if let Some(args) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
            {
                let (metric, label) = args.rsplit_once(',').unwrap();
                let series = api.get("/api/v1/series", &[("match[]", metric.trim())]);
                let values: Vec<&str> = series["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|s| s[label.trim()].as_str())
                    .collect();
                for node in nodes {
                    if !values.contains(node) {
                        missing.push(format!("{file}: variable {query} lacks {node}"));
                    }
                }
            }
        }
        for query in dashboard::queries(board).unwrap() {
            for node in nodes {
                let expr = dashboard::substitute(&query.expr, &[("node", node)], "15s", "1m", "1h");
                if api.query(&expr).is_empty() {
                    missing.push(format!("{file}: {}: {expr} ({node})", query.panel));
                }
            }
        }
    }
    missing
}

/// The selector of one of the values the sidecar's script wrote for edge-1.
fn the_sidecars_value_series(api: &Prometheus) -> String {
    let found = api.query("{__name__=~\"edge_.+_temp_celsius\", instance=\"edge-1\"}");
    let name = found
        .first()
        .and_then(|s| s["metric"]["__name__"].as_str())
        .unwrap_or_else(|| panic!("the script's values are not in Prometheus: {found:?}"));
    format!("{name}{{instance=\"edge-1\"}}")
}

/// The samples of `series` from `from` to at least `to` (Unix seconds) with no gap
/// longer than two scrape intervals; Err says what is missing.
fn gap_check(api: &Prometheus, series: &str, from: f64, to: f64) -> Result<usize, String> {
    let now = unix_now();
    let window = (now - from).ceil() as u64;
    let result = api.query(&format!("{series}[{window}s]"));
    let [one] = result.as_slice() else {
        return Err(format!("{} series", result.len()));
    };
    let times: Vec<f64> = one["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_f64().unwrap())
        .collect();
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return Err("no samples".into());
    };
    if *first > from + 2.0 * SCRAPE_INTERVAL as f64 {
        return Err(format!(
            "the first sample is {:.0} s after the window's start",
            first - from
        ));
    }
    if *last < to {
        return Err(format!("samples end {:.0} s before {to:.0}", to - last));
    }
    let widest = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    if widest > 2.0 * SCRAPE_INTERVAL as f64 {
        return Err(format!("a gap of {widest:.1} s"));
    }
    Ok(times.len())
}

fn get(url: &str) -> String {
    ureq::get(url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The sum of the samples of `name` in Prometheus text, read by the project's parser.
fn sum_of(text: &str, name: &str) -> f64 {
    let families = textparse::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| &f.metrics)
        .map(|m| match m.value {
            textparse::Value::Single(value) => value,
            ref other => panic!("{name}: {other:?}"),
        })
        .sum()
}

fn wait_until_ok(url: &str, dir: &tempfile::TempDir) {
    poll(
        dir,
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            ureq::get(url)
                .call()
                .map(drop)
                .map_err(|e| format!("{url} never answered: {e}"))
        },
    );
}

/// `attempt` every `every` until it gives Ok, which is returned; past `limit`, a
/// panic with its last error and the programs' logs.
fn poll<T>(
    dir: &tempfile::TempDir,
    limit: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(why) if Instant::now() >= deadline => panic!("{why}\n{}", logs(dir)),
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// The tail of every program's log, for a failure message.
fn logs(dir: &tempfile::TempDir) -> String {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!("== {}\n", file.display()));
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
