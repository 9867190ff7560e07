//! edge-master: keeps every node's latest hardware snapshot and its history in SQLite
//! and serves atlhyper's node-metrics REST API (and its own dashboard, later).
//!
//! - `model` — the JSON contract, field by field.

pub mod model;
