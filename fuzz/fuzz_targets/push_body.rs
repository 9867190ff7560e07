//! The master's push route, `POST /metrics/node`: the admission of its JSON body
//! (`admission::Admission::push`: serde_json into `model::NodeMetricsSnapshot` under
//! bounds, the bounds check, the timestamp's window, redaction), the bounds fitting a
//! scraped snapshot gets (`admission::bounds::fit`), and the whole route on an
//! in-memory store, then the read routes that serve what was pushed.
//!
//! Never panics; what admission accepts is within bounds and its JSON is admitted
//! again (what the store keeps, it can read back); what `fit` returns passes `check`;
//! no answer is a 5xx or anything but JSON, and a node the route accepted is served.
#![no_main]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use edge_common::redact::CmdlinePolicy;
use edge_master::admission::{bounds, Admission};
use edge_master::model::NodeMetricsSnapshot;
use edge_metrics_fuzz::{
    assert_sound_answer, call, master_router, runtime, uri_escape, CLUSTER, RETENTION,
};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = runtime();
    static SHARED: Router = master_router();
}

const ADMISSION: Admission = Admission {
    cmdlines: CmdlinePolicy::Redact,
    retention: RETENTION,
};

fuzz_target!(|data: &[u8]| {
    let now = Utc::now();
    let admitted = ADMISSION.push(data, now);
    if let Ok(snapshot) = &admitted {
        if let Err(error) = bounds::check(&mut snapshot.clone()) {
            panic!("admitted out of bounds: {error}");
        }
        let json = serde_json::to_vec(snapshot).expect("a snapshot serializes");
        if let Err(error) = ADMISSION.push(&json, now) {
            panic!(
                "an admitted snapshot's own JSON is refused: {error}\n{}",
                String::from_utf8_lossy(&json)
            );
        }
    }
    if let Ok(mut scraped) = serde_json::from_slice::<NodeMetricsSnapshot>(data) {
        if bounds::fit(&mut scraped).is_ok() {
            if let Err(error) = bounds::check(&mut scraped) {
                panic!("fitted out of bounds: {error}");
            }
        }
    }

    // A body that admission refuses is refused before any write and shares a router;
    // one that may reach the store gets a fresh one, so that an input fails or passes
    // on its own (a fresh store costs milliseconds).
    let node = admitted.as_ref().ok().map(|s| s.node_name.clone());
    RUNTIME.with(|runtime| {
        let router = match node {
            Some(_) => master_router(),
            None => SHARED.with(Router::clone),
        };
        let push = Request::post("/metrics/node")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(data.to_vec()))
            .expect("request");
        let (status, body) = call(runtime, &router, push);
        assert_sound_answer("push", status, &body);
        if status != StatusCode::OK {
            return;
        }
        let node = node.unwrap_or_else(|| {
            panic!(
                "the route accepted what admission refuses ({:?})",
                admitted.as_ref().err()
            )
        });
        for uri in [
            format!("/api/v2/clusters/{CLUSTER}/node-metrics"),
            format!(
                "/api/v2/clusters/{CLUSTER}/node-metrics/{}",
                uri_escape(node.as_bytes(), b"")
            ),
            format!(
                "/api/v2/clusters/{CLUSTER}/node-metrics/{}/history?hours=1",
                uri_escape(node.as_bytes(), b"")
            ),
        ] {
            let request = Request::get(&uri).body(Body::empty()).expect("request");
            let (status, body) = call(runtime, &router, request);
            assert_sound_answer(&uri, status, &body);
            assert_eq!(
                status,
                StatusCode::OK,
                "{uri}: the pushed node is not served"
            );
        }
    });
});
