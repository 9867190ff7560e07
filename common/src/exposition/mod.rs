//! The Prometheus exposition format, written: one model of a scrape's families and
//! samples ([`MetricSet`], [`Family`]), the registry rule that joins sets ("the first
//! family of a name wins", as node_exporter's registry), the name and label rules
//! ([`names`]), and the two writers — text 0.0.4 and OpenMetrics 1.0 — with the
//! `Accept` negotiation between them ([`write`]).
//!
//! Reading the format is `crate::textparse`; the value and escaping rules both sides
//! use are `crate::text`.

pub mod model;
pub mod names;
pub mod write;

pub use model::{
    parse_rendered_labels, Family, MetricKind, MetricSet, Name, NameError, Sample, SamplePart,
};
pub use write::{negotiate, render, Format};
