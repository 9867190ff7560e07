//! edge-common: small pieces the edge-metrics programs share, so a flag or a value
//! means the same in each. Not a place for program logic.
//!
//! - `duration` — Go-style durations (`500ms`, `10s`, `1m30s`), as node_exporter's
//!   flags and the sidecar's `nodes.conf` spell them.
//! - `flags` — the one-line error for a bad flag value, as the binaries print it.
//! - `exposition` — the Prometheus format written: the model of a scrape's families,
//!   the "first family wins" registry, the name rules, the 0.0.4 and OpenMetrics
//!   writers.
//! - `redact` — secrets hidden in process command lines (`--password=***`).
//! - `text` — Prometheus text-format values and escaping, written and read alike.
//! - `textparse` — a parser of Prometheus text 0.0.4: strict (`parse`, node_exporter's
//!   textfile rules, for the exporter's textfile collector) or lenient
//!   (`parse_lenient`, for the master's scraper: a family it cannot read is dropped
//!   and reported, the rest kept).

pub mod duration;
pub mod exposition;
pub mod flags;
pub mod redact;
pub mod text;
pub mod textparse;
