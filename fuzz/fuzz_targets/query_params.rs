//! The master API's path and query handling — `Params` (axum's `Path` and `Query`),
//! `cluster_id`, `hours` — and its `Authorization` header (`api/auth.rs`), driven
//! through the whole router in-process (`tower::ServiceExt::oneshot` on a
//! current-thread runtime), on an in-memory store that holds one pushed node. The
//! hours, cluster_id and token parsing is private to the `api` module; this reaches it
//! the way a client does.
//!
//! The input: the first byte picks the route, the rest is the query string, then
//! (after 0xFF) the node name and the cluster id of the path, then (after another
//! 0xFF) an `Authorization` header value, sent to a router that wants a read token.
//! Bytes a URI cannot carry are percent-encoded, so the server's decoding sees every
//! byte. No answer is a 5xx, a panic, or anything but JSON.
#![no_main]

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::Router;
use edge_metrics_fuzz::{
    assert_sound_answer, call, master_router, master_router_with, parts, runtime, uri_escape,
};
use libfuzzer_sys::fuzz_target;

/// The node the store holds.
const NODE: &str = "edge-a";
/// The read token of the second router (`--api.read-token`).
const READ_TOKEN: &str = "s3cret";

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = runtime();
    static ROUTER: Router = RUNTIME.with(|runtime| with_a_node(runtime, master_router()));
    static TOKEN_ROUTER: Router = RUNTIME.with(|runtime| {
        with_a_node(
            runtime,
            master_router_with(|settings| settings.read_token = Some(READ_TOKEN.to_owned())),
        )
    });
}

/// `router` once it holds `NODE` in the served cluster, so the routes get past
/// "unknown node" to the query parameters.
fn with_a_node(runtime: &tokio::runtime::Runtime, router: Router) -> Router {
    let body = format!(r#"{{"node_name":"{NODE}","cpu":{{"usage_percent":12.5}}}}"#);
    let push = Request::post("/metrics/node")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let (status, _) = call(runtime, &router, push);
    assert_eq!(status, StatusCode::OK, "the setup push failed");
    router
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else {
        return;
    };
    let parts = parts(rest, 4);
    let query = uri_escape(parts[0], b"&=+%");
    let segment = |index: usize, default: &str| {
        parts
            .get(index)
            .map_or_else(|| default.to_owned(), |part| uri_escape(part, b"%"))
    };
    let node = segment(1, NODE);
    let cluster = segment(2, edge_metrics_fuzz::CLUSTER);
    let path = match route % 7 {
        0 => "/api/v2/node-metrics".to_owned(),
        1 => format!("/api/v2/node-metrics/{node}"),
        2 => format!("/api/v2/node-metrics/{node}/history"),
        3 => format!("/api/v2/clusters/{cluster}/node-metrics"),
        4 => format!("/api/v2/clusters/{cluster}/node-metrics/{node}"),
        5 => format!("/api/v2/clusters/{cluster}/node-metrics/{node}/history"),
        _ => "/api/v2/clusters".to_owned(),
    };
    let uri = format!("{path}?{query}");
    // What no HTTP client could send is not a case for the server.
    let Ok(mut request) = Request::get(&uri).body(Body::empty()) else {
        return;
    };
    let authorization = parts.get(3);
    if let Some(value) = authorization {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let answer = |router: &Router| RUNTIME.with(|runtime| call(runtime, router, request));
    let (status, body) = match authorization {
        Some(_) => TOKEN_ROUTER.with(answer),
        None => ROUTER.with(answer),
    };
    assert_sound_answer(&uri, status, &body);
});
