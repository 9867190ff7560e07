//! Where node data comes from.
//!
//! The main source scrapes exporters, each target on its own timer
//! ([`schedule::run`]: [`scrape`] does one scrape, [`batch`] writes what arrives);
//! pushes arrive through the API instead.
//!
//! A source that works in rounds (one that reads the same data from a
//! Prometheus-compatible query API, for clusters beyond one master) implements
//! [`NodeSource`]: [`run`] asks it for a round every interval and hands it to a
//! [`RoundWriter`]: the snapshots pass admission (fitted within bounds, command lines
//! redacted) and go to the store in one transaction, the reports to the master's own
//! metrics.

pub mod batch;
pub mod promql;
pub mod schedule;
pub mod scrape;
pub mod targets;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::admission::Admission;
use crate::model::NodeMetricsSnapshot;
use crate::own_metrics::{OwnMetrics, ScrapeFailure};
use crate::store::Store;

/// What one round produced.
#[derive(Debug, Default)]
pub struct Round {
    pub snapshots: Vec<NodeMetricsSnapshot>,
    pub targets: Vec<TargetReport>,
}

/// How one target fared in a round (for the master's own metrics; the error itself
/// is logged by the source).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    pub url: String,
    /// The node it reported, when known.
    pub node: Option<String>,
    pub duration: Duration,
    pub samples: usize,
    /// Families left out because they could not be read, by reason (in
    /// `textparse::DropReason::ALL`'s order).
    pub dropped_families: [usize; 3],
    /// `None` when the target answered.
    pub failure: Option<ScrapeFailure>,
}

/// A source of node snapshots. Blocking: the caller runs it on a thread of its own.
pub trait NodeSource: Send {
    fn collect(&mut self) -> Round;
}

/// Where rounds go: the store, into `cluster_id`, and the master's own metrics.
pub struct RoundWriter {
    store: Arc<Store>,
    own_metrics: Arc<OwnMetrics>,
    admission: Admission,
    cluster_id: String,
    /// At most one history point per node per this interval.
    sample_interval: Duration,
    /// The targets of the last round, to forget those that are gone.
    known_targets: HashSet<String, foldhash::fast::RandomState>,
    /// When set, a node counts as seen at its snapshot's time plus this, not when the
    /// round is written: a PromQL round's snapshot is as old as its newest sample.
    seen_after_sample: Option<Duration>,
}

impl RoundWriter {
    pub fn new(
        store: Arc<Store>,
        own_metrics: Arc<OwnMetrics>,
        admission: Admission,
        cluster_id: String,
        sample_interval: Duration,
    ) -> RoundWriter {
        RoundWriter {
            store,
            own_metrics,
            admission,
            cluster_id,
            sample_interval,
            known_targets: HashSet::default(),
            seen_after_sample: None,
        }
    }

    /// Nodes count as seen at their snapshot's time plus `delay` (capped at now).
    pub fn seen_at_sample_time(mut self, delay: Duration) -> RoundWriter {
        self.seen_after_sample = Some(delay);
        self
    }

    /// Reports every target, forgets those no longer in the round, and writes the
    /// snapshots in one transaction (a failure is logged; the next round tries again).
    pub fn write(&mut self, round: Round) {
        let metrics = &self.own_metrics;
        for report in &round.targets {
            let node = report.node.as_deref();
            match report.failure {
                None => metrics.record_scrape_success(
                    &report.url,
                    node,
                    report.duration,
                    report.samples,
                    report.dropped_families,
                ),
                Some(failure) => {
                    metrics.record_scrape_failure(&report.url, node, report.duration, failure)
                }
            }
        }
        let current: HashSet<String, _> = round.targets.iter().map(|r| r.url.clone()).collect();
        for gone in self.known_targets.difference(&current) {
            metrics.forget_target(gone);
        }
        self.known_targets = current;
        let now = Utc::now();
        let seen_after_sample = self.seen_after_sample;
        let seen = |snapshot: &NodeMetricsSnapshot| match seen_after_sample {
            Some(delay) => chrono::TimeDelta::from_std(delay)
                .ok()
                .and_then(|delay| snapshot.timestamp.checked_add_signed(delay))
                .map_or(now, |seen| seen.min(now)),
            None => now,
        };
        let batch: Vec<_> = round
            .snapshots
            .into_iter()
            .filter_map(|snapshot| match self.admission.scraped(snapshot) {
                Ok(snapshot) => {
                    let seen = seen(&snapshot);
                    Some((snapshot, seen))
                }
                Err(error) => {
                    tracing::warn!(%error, "scraped snapshot not admitted");
                    None
                }
            })
            .collect();
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let result = self
            .store
            .write_round(&self.cluster_id, &batch, self.sample_interval);
        metrics.record_store_write(started.elapsed(), result.is_ok());
        match result {
            Ok(report) => {
                for error in report.refused {
                    tracing::error!(%error, "scraped snapshot not stored");
                }
            }
            Err(error) => tracing::error!(%error, "writing the round failed"),
        }
    }
}

/// Every `interval`, forever: a round from `source`, handed to `writer`. Blocking: run
/// it on a thread of its own.
pub fn run(mut source: impl NodeSource, mut writer: RoundWriter, interval: Duration) -> ! {
    loop {
        let started = Instant::now();
        writer.write(source.collect());
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(url: &str, failure: Option<ScrapeFailure>) -> TargetReport {
        TargetReport {
            url: url.to_owned(),
            node: Some("n1".to_owned()),
            duration: Duration::from_millis(10),
            samples: if failure.is_none() { 3 } else { 0 },
            dropped_families: [0; 3],
            failure,
        }
    }

    #[test]
    fn a_round_goes_to_the_store_and_the_metrics() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let metrics = Arc::new(OwnMetrics::new());
        let mut writer = RoundWriter::new(
            Arc::clone(&store),
            Arc::clone(&metrics),
            Admission {
                cmdlines: crate::admission::CmdlinePolicy::Redact,
                retention: Duration::from_secs(86_400),
            },
            "c1".to_owned(),
            Duration::from_secs(60),
        );
        writer.write(Round {
            snapshots: vec![NodeMetricsSnapshot {
                node_name: "n1".to_owned(),
                timestamp: Utc::now(),
                ..NodeMetricsSnapshot::default()
            }],
            targets: vec![
                report("http://a/metrics", None),
                report("http://b/metrics", Some(ScrapeFailure::Timeout)),
            ],
        });
        let latest = store.latest("c1").unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].0.node_name, "n1");
        let text = metrics.render();
        assert!(
            text.contains("target=\"http://a/metrics\",reason=\"none\""),
            "{text}"
        );
        assert!(
            text.contains("target=\"http://b/metrics\",reason=\"timeout\""),
            "{text}"
        );
        assert!(
            text.contains("edge_master_store_write_duration_seconds_count 1"),
            "{text}"
        );

        // b is no longer a target; a round without snapshots writes nothing.
        writer.write(Round {
            snapshots: Vec::new(),
            targets: vec![report("http://a/metrics", None)],
        });
        let text = metrics.render();
        assert!(!text.contains("http://b/metrics"), "{text}");
        assert!(
            text.contains("edge_master_store_write_duration_seconds_count 1"),
            "{text}"
        );
    }
}
