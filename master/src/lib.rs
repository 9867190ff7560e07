//! edge-master: keeps every node's latest hardware snapshot and its history in SQLite
//! and serves atlhyper's node-metrics REST API (and its own dashboard, later).
//!
//! - `model` — the JSON contract, field by field.
//! - `snapshot` — one scrape (and the one before, for rates) → a `NodeMetricsSnapshot`.
//! - `store` — SQLite: latest snapshots, sampled history, retention and hourly rollup.
//! - `api` — the HTTP API: atlhyper's node-metrics routes, push, health, own metrics.

pub mod api;
pub mod cli;
pub mod model;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod web;
