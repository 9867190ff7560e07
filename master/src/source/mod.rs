//! Where node data comes from.
//!
//! A source is asked for a round every scrape interval and returns the snapshots it
//! could build plus a report per target. The main one scrapes exporters
//! ([`scrape::ScrapeSource`]); pushes arrive through the API instead. A later source
//! will read the same data from a Prometheus-compatible query API, for clusters
//! beyond one master: it only has to implement [`NodeSource`].

pub mod scrape;
pub mod targets;

use std::time::Duration;

use crate::model::NodeMetricsSnapshot;

/// What one round produced.
#[derive(Debug, Default)]
pub struct Round {
    pub snapshots: Vec<NodeMetricsSnapshot>,
    pub targets: Vec<TargetReport>,
}

/// How one target fared in a round (for the master's own metrics and logs).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    pub url: String,
    /// The node it reported, when known.
    pub node: Option<String>,
    pub up: bool,
    pub duration: Duration,
    pub samples: usize,
    pub error: Option<String>,
}

/// A source of node snapshots. Blocking: the caller runs it on a thread of its own.
pub trait NodeSource: Send {
    fn collect(&mut self) -> Round;
}
