//! CORS in a real browser: a page served from another loopback origin (another port)
//! calls every API route of both families in headless Chromium, with and without an
//! `Authorization` header (which makes the browser send a preflight `OPTIONS` first),
//! and reads the data. A master that allows only some other origin is refused by the
//! same browser: the headers are what lets the calls through.

mod browser;
mod support;

use std::time::Duration;

use browser::{eventually, get_text, Browser};
use serde_json::{json, Value};
use support::{edge_exporter, free_port, spawn, Server};

const NODE: &str = "edge-cors";
const CLUSTER: &str = "default";

/// The page's origin: a server on another port that serves one empty HTML page.
async fn serve_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let page = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><link rel=\"icon\" href=\"data:,\"><title>atlhyper stand-in</title><p>console</p>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, page).await });
    origin
}

/// edge-master scraping one edge-exporter, with the extra flags given.
struct Master {
    base: String,
    _master: Server,
    _exporter: Server,
    _db: tempfile::TempDir,
}

impl Master {
    async fn start(extra: &[String]) -> Master {
        let db = tempfile::tempdir().unwrap();
        let exporter_port = free_port();
        let exporter = spawn(
            &edge_exporter(),
            &[
                format!("--web.listen-address=127.0.0.1:{exporter_port}"),
                format!("--node-name={NODE}"),
            ],
        );
        let port = free_port();
        let mut args = vec![
            format!("--listen=127.0.0.1:{port}"),
            format!("--db={}", db.path().join("cors.db").display()),
            format!("--target=127.0.0.1:{exporter_port}"),
            "--scrape-interval=500ms".into(),
            "--sample-interval=1s".into(),
        ];
        args.extend_from_slice(extra);
        let master = spawn(env!("CARGO_BIN_EXE_edge-master"), &args);
        let base = format!("http://127.0.0.1:{port}");
        let node = format!("{base}/api/v2/clusters/{CLUSTER}/node-metrics/{NODE}/history?hours=1");
        eventually(
            "edge-master serving the node with a history point",
            Duration::from_secs(20),
            || async {
                let body: Value =
                    serde_json::from_str(&get_text(&node)?).map_err(|e| e.to_string())?;
                match body["history"].as_array() {
                    Some(points) if !points.is_empty() => Ok(()),
                    _ => Err(body.to_string()),
                }
            },
        )
        .await;
        Master {
            base,
            _master: master,
            _exporter: exporter,
            _db: db,
        }
    }
}

/// Every API route, and what its body must hold: a JSON pointer and its value.
fn routes() -> Vec<(&'static str, String, &'static str, Value)> {
    let history = "hours=1";
    vec![
        (
            "GET",
            "/api/v2/clusters".into(),
            "/clusters/0/clusterId",
            json!(CLUSTER),
        ),
        (
            "GET",
            "/api/v2/clusters".into(),
            "/clusters/0/otelAvailable",
            json!(true),
        ),
        (
            "GET",
            format!("/api/v2/clusters/{CLUSTER}/node-metrics"),
            "/nodes/0/node_name",
            json!(NODE),
        ),
        (
            "GET",
            format!("/api/v2/clusters/{CLUSTER}/node-metrics/{NODE}"),
            "/node_name",
            json!(NODE),
        ),
        (
            "GET",
            format!("/api/v2/clusters/{CLUSTER}/node-metrics/{NODE}/history?{history}"),
            "/node_name",
            json!(NODE),
        ),
        (
            "GET",
            format!("/api/v2/node-metrics?cluster_id={CLUSTER}"),
            "/nodes/0/node_name",
            json!(NODE),
        ),
        (
            "GET",
            format!("/api/v2/node-metrics/{NODE}?cluster_id={CLUSTER}"),
            "/node_name",
            json!(NODE),
        ),
        (
            "GET",
            format!("/api/v2/node-metrics/{NODE}/history?cluster_id={CLUSTER}&{history}"),
            "/data/0/node_name",
            json!(NODE),
        ),
        (
            "GET",
            "/api/v2/node-metrics?cluster_id=atlhyper-default".into(),
            "/summary/total_nodes",
            json!(0),
        ),
        ("POST", "/metrics/node".into(), "/status", json!("ok")),
    ]
}

/// Runs `fetch` for every route from the page in the browser; each result is
/// `{status, body}` or `{error}` when the browser refused the call.
async fn fetch_all(browser: &Browser, base: &str, authorization: bool) -> Vec<Value> {
    let calls: Vec<Value> = routes()
        .into_iter()
        .map(|(method, path, _, _)| json!({"method": method, "url": format!("{base}{path}")}))
        .collect();
    let pushed = json!({"node_name": "pushed-from-browser", "cpu": {"usage_percent": 5.0}});
    let script = "
        const [calls, authorization, pushed, done] = arguments;
        Promise.all(calls.map(async call => {
            const headers = {};
            if (authorization) headers['Authorization'] = 'Bearer console-token';
            const init = {method: call.method, headers};
            if (call.method === 'POST') {
                headers['Content-Type'] = 'application/json';
                init.body = JSON.stringify(pushed);
            }
            try {
                const response = await fetch(call.url, init);
                return {status: response.status, body: await response.json()};
            } catch (error) {
                return {error: String(error)};
            }
        })).then(done);";
    let value = browser
        .client
        .execute_async(script, vec![json!(calls), json!(authorization), pushed])
        .await
        .unwrap_or_else(|e| panic!("the page's fetches: {e}"));
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_origin_reads_every_route() {
    let browser = Browser::start(800, 600).await;
    let origin = serve_page().await;
    let master = Master::start(&[]).await;
    browser.client.goto(&format!("{origin}/")).await.unwrap();
    assert_ne!(
        origin, master.base,
        "the page and the API must be different origins"
    );
    for authorization in [false, true] {
        let results = fetch_all(&browser, &master.base, authorization).await;
        for ((method, path, pointer, expected), result) in routes().iter().zip(&results) {
            let what = format!("{method} {path} (Authorization: {authorization})");
            assert_eq!(result["status"], 200, "{what}: {result}");
            assert_eq!(
                result["body"].pointer(pointer),
                Some(expected),
                "{what}: {pointer} in {result}"
            );
        }
    }
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // The same page against a master that allows only another origin: the browser
    // refuses every call (a preflight or a missing Allow-Origin).
    let closed = Master::start(&["--cors.allowed-origin=http://console.example".into()]).await;
    for authorization in [false, true] {
        let results = fetch_all(&browser, &closed.base, authorization).await;
        for ((method, path, _, _), result) in routes().iter().zip(&results) {
            assert!(
                result["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Failed to fetch")),
                "{method} {path} (Authorization: {authorization}) was not refused: {result}"
            );
        }
    }
    browser.close().await;
}
