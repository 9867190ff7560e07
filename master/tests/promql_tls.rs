//! The PromQL source over https: Debian's Prometheus serves its API with TLS
//! (`--web.config.file`, certificates made by rcgen) and scrapes a real edge-exporter
//! every second; masters in PromQL mode read it.
//!
//! - Server TLS: a master trusting the CA (`--source.tls-ca-file`) lists the node online
//!   with the exporter's values; one without the CA file (Mozilla's roots) refuses the
//!   certificate: no node, the failure in its own metrics and its log. One with
//!   `--source.tls-insecure-skip-verify` takes it unchecked.
//! - Mutual TLS required by Prometheus: without a client certificate the round fails;
//!   with `--source.tls-cert-file`/`--source.tls-key-file` the node is listed.
//!
//! One Prometheus per test; the two tests run side by side.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::certs::Ca;
use support::http::{get, get_url_text, try_get, wait_until};
use support::{edge_exporter, free_port, spawn, spawn_logged, Server};

const NODE: &str = "edge-tls";
const NODE_PATH: &str = "/api/v2/clusters/default/node-metrics/edge-tls";
/// How long a master may take to list the node: Prometheus starting, its first
/// scrapes, `--source.delay` and a round.
const WITHIN: Duration = Duration::from_secs(30);

/// An edge-exporter and a Prometheus scraping it every second, its API on https with
/// `tls_server_config` (YAML lines, indented by two).
struct Backend {
    _exporter: Server,
    _prometheus: Server,
    exporter_port: u16,
    url: String,
}

fn start_backend(dir: &Path, tls_server_config: &str) -> Backend {
    let exporter_port = free_port();
    let exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            format!("--node-name={NODE}"),
        ],
    );
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge-exporter\n    static_configs:\n      - targets: [\"127.0.0.1:{exporter_port}\"]\n        labels: {{node: {NODE}}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!("tls_server_config:\n{tls_server_config}"),
    )
    .unwrap();
    let port = free_port();
    let prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--web.config.file={}", dir.join("web.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prometheus").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    );
    Backend {
        _exporter: exporter,
        _prometheus: prometheus,
        exporter_port,
        url: format!("https://127.0.0.1:{port}"),
    }
}

/// A master in PromQL mode on `backend`, its log in `dir/{name}.log`.
struct Master {
    _server: Server,
    port: u16,
    log: PathBuf,
}

fn start_master(dir: &Path, name: &str, backend: &Backend, tls: &[String]) -> Master {
    let port = free_port();
    let mut args = vec![
        format!("--listen=127.0.0.1:{port}"),
        format!("--db={}", dir.join(format!("{name}.db")).display()),
        format!("--source=prometheus={}", backend.url),
        "--scrape-interval=1s".into(),
        "--source.node-label=node".into(),
        // Prometheus has a sample as soon as it scraped it.
        "--source.delay=2s".into(),
    ];
    args.extend_from_slice(tls);
    let log = dir.join(format!("{name}.log"));
    let server = spawn_logged(env!("CARGO_BIN_EXE_edge-master"), &args, &log);
    wait_until("edge-master answering", Duration::from_secs(10), || {
        try_get(port, "/healthz").is_ok_and(|a| a.status == 200)
    });
    Master {
        _server: server,
        port,
        log,
    }
}

fn flag(name: &str, path: &Path) -> String {
    format!("--source.{name}={}", path.display())
}

/// Waits for `master` to list the node online; checks its memory total against the
/// exporter's `node_memory_MemTotal_bytes`.
fn assert_lists_the_node(master: &Master, backend: &Backend) {
    wait_until("the node listed through https", WITHIN, || {
        try_get(master.port, NODE_PATH)
            .is_ok_and(|a| a.status == 200 && a.json()["status"] == "online")
    });
    let node = get(master.port, NODE_PATH).json();
    let exported = get_url_text(&format!(
        "http://127.0.0.1:{}/metrics",
        backend.exporter_port
    ));
    let mem_total: f64 = exported
        .lines()
        .find_map(|line| line.strip_prefix("node_memory_MemTotal_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the exporter's node_memory_MemTotal_bytes");
    assert_eq!(node["memory"]["total"].as_f64(), Some(mem_total), "{node}");
    assert_eq!(node["node_name"], NODE);
    println!(
        "through https: {NODE} online, memory total {mem_total} B, cpu cores {}",
        node["cpu"]["cores"]
    );
}

/// How many failed rounds of a master are read from its log.
const FAILED_ROUNDS: usize = 3;

/// `master`'s rounds fail: no node, `edge_master_scrape_up 0` with the failure's reason
/// in its metrics, and the next [`FAILED_ROUNDS`] `PromQL round failed` lines in its log
/// each with one of `expected` in it. Called once the backend answered another master:
/// rounds before that may have failed for a backend still starting.
fn assert_rounds_fail(master: &Master, expected: &[&str]) {
    let failures = || -> Vec<String> {
        std::fs::read_to_string(&master.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("PromQL round failed"))
            .map(str::to_owned)
            .collect()
    };
    let before = failures().len();
    let mut after = Vec::new();
    wait_until("failed rounds in the log", WITHIN, || {
        after = failures().split_off(before);
        after.len() >= FAILED_ROUNDS
    });
    let mut reasons = std::collections::BTreeSet::new();
    for failure in &after {
        assert!(expected.iter().any(|e| failure.contains(e)), "{failure}");
        reasons.insert(failure.rsplit_once("): ").map_or("", |(_, why)| why));
    }
    println!("{} failed rounds: {reasons:?}", after.len());
    let metrics = get(master.port, "/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("edge_master_scrape_up{") && line.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(
            |line| line.starts_with("edge_master_scrape_last_error_info{")
                && line.contains("reason=\"connect\"")
                && line.ends_with(" 1")
        ),
        "{metrics}"
    );
    assert_eq!(get(master.port, NODE_PATH).status, 404);
}

#[test]
fn the_backend_certificate_is_checked_against_the_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Ca::new(dir, "ca");
    let server = ca.server(dir, "prometheus");
    let backend = start_backend(
        dir,
        &format!(
            "  cert_file: {}\n  key_file: {}\n",
            server.cert_file.display(),
            server.key_file.display()
        ),
    );
    let trusting = start_master(
        dir,
        "trusting",
        &backend,
        &[flag("tls-ca-file", &ca.pem_file)],
    );
    let public_roots = start_master(dir, "public-roots", &backend, &[]);
    let unverified = start_master(
        dir,
        "unverified",
        &backend,
        &["--source.tls-insecure-skip-verify".into()],
    );
    assert_lists_the_node(&trusting, &backend);
    assert_lists_the_node(&unverified, &backend);
    // Prometheus answered the first master by now: the second one's failure is its
    // certificate, not a backend still starting.
    assert_rounds_fail(
        &public_roots,
        &["TLS: io: invalid peer certificate: UnknownIssuer"],
    );
}

#[test]
fn a_client_certificate_is_shown_when_the_backend_requires_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Ca::new(dir, "ca");
    let server = ca.server(dir, "prometheus");
    let client = ca.client(dir, "edge-master");
    let backend = start_backend(
        dir,
        &format!(
            "  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            server.cert_file.display(),
            server.key_file.display(),
            ca.pem_file.display()
        ),
    );
    let ca_file = flag("tls-ca-file", &ca.pem_file);
    let with_certificate = start_master(
        dir,
        "with-certificate",
        &backend,
        &[
            ca_file.clone(),
            flag("tls-cert-file", &client.cert_file),
            flag("tls-key-file", &client.key_file),
        ],
    );
    let without = start_master(dir, "without-certificate", &backend, &[ca_file]);
    assert_lists_the_node(&with_certificate, &backend);
    assert_rounds_fail(&without, &["TLS: ", "Broken pipe", "Connection reset"]);
}
