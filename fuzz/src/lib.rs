//! What the fuzz targets (`fuzz_targets/*.rs`) share: splitting one input into
//! parts, comparing values, checking that a metric set renders to text the strict
//! parser accepts, and the master's router on an in-memory store.
//!
//! Not part of the product: this crate exists only for `cargo fuzz` (see README.md).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::Router;
use edge_common::exposition::{render, Format, MetricSet};
use edge_common::textparse::{self, MetricFamily};
use edge_master::api::{router, ApiSettings, SharedStore};
use edge_master::own_metrics::OwnMetrics;
use edge_master::store::Store;
use tower::ServiceExt;

/// The byte that separates the parts of an input made of several files: never
/// valid UTF-8, so it cannot be confused with text a parser would accept.
pub const PART_SEPARATOR: u8 = 0xFF;

/// Up to `max` parts of `data`, split at [`PART_SEPARATOR`]; the last part keeps any
/// further separators.
pub fn parts(data: &[u8], max: usize) -> Vec<&[u8]> {
    data.splitn(max, |&b| b == PART_SEPARATOR).collect()
}

/// The text the readers would see: they read files with `read_to_string`, so
/// anything that is not UTF-8 never reaches a parser.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Two sample values are the same when they are equal or both NaN (`0` and `-0`
/// are equal: the text format writes both as `0`).
pub fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Renders `set` as text 0.0.4 and OpenMetrics, and parses the 0.0.4 text back with
/// the strict parser, which must accept it: whatever a program of ours writes, the
/// textfile collector and the master must read. Returns the text and its families.
pub fn render_and_reparse(set: &MetricSet) -> (String, Vec<MetricFamily>) {
    let mut openmetrics = String::new();
    render(set, Format::OpenMetrics, &mut openmetrics);
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    let mut text = String::new();
    render(set, Format::PrometheusText, &mut text);
    match textparse::parse(text.as_bytes()) {
        Ok(families) => (text, families),
        Err(error) => panic!("rendered text rejected: {error}\n--- text ---\n{text}"),
    }
}

/// The cluster the in-memory master serves.
pub const CLUSTER: &str = "edge";
/// The in-memory master's history retention (`--storage.retention`).
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The master's API router on a fresh in-memory SQLite store: what `edge-master`
/// serves, minus the dashboard. [`RETENTION`], a scrape every 10 s.
pub fn master_router() -> Router {
    master_router_with(|_| {})
}

/// [`master_router`] with its settings adjusted (a token, a limit).
pub fn master_router_with(adjust: impl FnOnce(&mut ApiSettings)) -> Router {
    let store = Store::open_in_memory().expect("in-memory store");
    let shared: SharedStore = Arc::new(store);
    let mut settings = ApiSettings::new(CLUSTER.to_owned(), RETENTION, Duration::from_secs(10));
    adjust(&mut settings);
    router(shared, settings, Arc::new(OwnMetrics::new()))
}

/// A runtime like the master's, on this thread: one per fuzz process.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Sends `request` through `router` and returns the status and the whole body.
pub fn call(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, Bytes) {
    runtime.block_on(async {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, body)
    })
}

/// The checks every API answer must pass: no 5xx, and a JSON body (every route
/// answers JSON, errors included, except `/metrics`).
pub fn assert_sound_answer(what: &str, status: StatusCode, body: &Bytes) {
    assert!(
        !status.is_server_error(),
        "{what}: {status}: {}",
        String::from_utf8_lossy(body)
    );
    assert!(
        serde_json::from_slice::<serde_json::Value>(body).is_ok(),
        "{what}: {status}: body is not JSON: {}",
        String::from_utf8_lossy(body)
    );
}

/// `text` with every byte a URI may not carry literally percent-encoded, so the
/// fuzzer's bytes reach the server's decoding (`%` and the query's `&`, `=`, `+`
/// are kept as they are: they are what the decoding is about).
pub fn uri_escape(text: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
