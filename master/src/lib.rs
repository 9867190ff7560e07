//! edge-master: keeps every node's latest hardware snapshot and its history in SQLite
//! and serves atlhyper's node-metrics REST API and its own dashboard.
//!
//! - `model` — the JSON contract, field by field, and its limits.
//! - `admission` — what a snapshot must be to be stored: within bounds, dated sanely,
//!   command lines redacted; checked for pushes, fitted for scrapes.
//! - `source` — where snapshots come from (scraping the exporters), and the scrape loop.
//! - `snapshot` — one scrape (and the one before, for rates) → a `NodeMetricsSnapshot`.
//! - `store` — SQLite: latest snapshots, sampled history, retention and hourly rollup.
//! - `api` — the HTTP API: atlhyper's node-metrics routes, push, health, own metrics.
//! - `web` — the dashboard page.
//! - `app` — the API and the dashboard in one router.
//! - `own_metrics` — the master's own counters and gauges (prometheus-client).
//! - `cli` — the flags.

pub mod admission;
pub mod api;
pub mod app;
pub mod cli;
pub mod model;
pub mod own_metrics;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod web;
