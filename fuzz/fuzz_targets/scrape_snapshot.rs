//! The master's reading of a scrape: an exporter's `/metrics` body
//! (`snapshot::Scrape::parse`, the strict text parser), the node name it reports,
//! and the snapshot built from it and the previous scrape of the same target
//! (`snapshot::build_snapshot`: rates, summaries, the primary disk and interface).
//!
//! The scraper reads only the families the snapshot needs
//! (`Scrape::parse_for_snapshot`, which skips the others' lines unread): wherever the
//! full parse reads a body, that one reads it too and gives the same snapshot.
//!
//! The input: the first byte is the seconds between the two scrapes, then the
//! current body, then (after 0xFF) the previous one. Never panics, and the snapshot
//! is JSON that reads back (no NaN or infinity leaks into it: serde_json writes
//! those as null, which the store could then not read).
#![no_main]

use chrono::{DateTime, TimeDelta, Utc};
use edge_master::model::NodeMetricsSnapshot;
use edge_master::snapshot::{build_snapshot, reported_node_name, Scrape};
use edge_metrics_fuzz::parts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&gap, rest)) = data.split_first() else {
        return;
    };
    let parts = parts(rest, 2);
    let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("a time");
    let Ok(current) = Scrape::parse(parts[0], now) else {
        return;
    };
    let previous = parts
        .get(1)
        .and_then(|body| Scrape::parse(body, now - TimeDelta::seconds(gap.into())).ok());
    let node = reported_node_name(&current).unwrap_or_else(|| "fuzz".to_owned());
    // A target named by address, or by a name (the node's IP then comes from its
    // address families).
    let target = if gap % 2 == 0 {
        Some("http://10.0.0.7:9100/metrics")
    } else {
        Some("http://edge-1.local:9100/metrics")
    };
    let snapshot = build_snapshot(&node, &current, previous.as_ref(), target);
    let json = serde_json::to_string(&snapshot).expect("a snapshot serializes");
    if let Err(error) = serde_json::from_str::<NodeMetricsSnapshot>(&json) {
        panic!("the snapshot's JSON does not read back: {error}\n{json}");
    }

    let lean = Scrape::parse_for_snapshot(parts[0], now)
        .unwrap_or_else(|error| panic!("the full parse read the body, the lean one: {error}"));
    let lean_previous = parts.get(1).and_then(|body| {
        Scrape::parse_for_snapshot(body, now - TimeDelta::seconds(gap.into())).ok()
    });
    if previous.is_some() == lean_previous.is_some() {
        let lean_snapshot = build_snapshot(&node, &lean, lean_previous.as_ref(), target);
        let lean_json = serde_json::to_string(&lean_snapshot).expect("a snapshot serializes");
        assert_eq!(json, lean_json, "the lean parse built another snapshot");
    }
});
