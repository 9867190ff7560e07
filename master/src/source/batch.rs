//! The scrape source's writer: reports every scrape to the master's own metrics as it
//! arrives, and gathers the admitted snapshots that arrive within [`BATCH_WAIT`] (at
//! most [`MAX_BATCH`]) into one `Store::write_round` call, one transaction.
//!
//! Targets come and go while their scrapes are in flight, so each target's scrapes
//! carry the generation it was started with: a scrape of a target already stopped (or
//! stopped and started again under another name) is dropped, and a stopped target's
//! series are forgotten once, here, in the order the events arrived.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use foldhash::fast::RandomState;
use tokio::sync::mpsc;

use super::TargetReport;
use crate::model::NodeMetricsSnapshot;
use crate::own_metrics::OwnMetrics;
use crate::store::Store;

/// How long the writer gathers snapshots before writing them.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);
/// The most snapshots written in one transaction.
pub const MAX_BATCH: usize = 512;
/// Events waiting for the writer; a scrape that finds the queue full waits for room
/// (a store that stalls slows the scrapes down rather than filling memory).
pub const MAX_QUEUED_EVENTS: usize = 4096;

/// What the scheduler and the scrapes tell the writer.
#[derive(Debug)]
pub enum Event {
    /// The target at `url` is scraped from now on, as `generation`.
    Started { url: String, generation: u64 },
    /// The target at `url` is no longer scraped.
    Stopped { url: String },
    /// One scrape of generation `generation`, its snapshot admitted (seen at the time
    /// given) or not built.
    Scraped {
        generation: u64,
        report: TargetReport,
        /// Boxed: a snapshot is large, the other events small.
        admitted: Option<Box<(NodeMetricsSnapshot, DateTime<Utc>)>>,
    },
}

/// Where the scrape source's results go: the store, into `cluster_id`, and the
/// master's own metrics.
pub struct BatchWriter {
    pub store: Arc<Store>,
    pub own_metrics: Arc<OwnMetrics>,
    pub cluster_id: String,
    /// At most one history point per node per this interval.
    pub sample_interval: Duration,
}

impl BatchWriter {
    /// Until every sender of `events` is gone (it then writes what it holds).
    pub async fn run(self, mut events: mpsc::Receiver<Event>) {
        let mut live: HashMap<String, u64, RandomState> = HashMap::default();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let Some(first) = events.recv().await else {
                return;
            };
            self.take(first, &mut live, &mut batch);
            let deadline = tokio::time::Instant::now() + BATCH_WAIT;
            let mut closed = false;
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(event)) => self.take(event, &mut live, &mut batch),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                batch = self.write(batch).await;
                batch.clear();
            }
            if closed {
                return;
            }
        }
    }

    fn take(
        &self,
        event: Event,
        live: &mut HashMap<String, u64, RandomState>,
        batch: &mut Vec<(NodeMetricsSnapshot, DateTime<Utc>)>,
    ) {
        match event {
            Event::Started { url, generation } => {
                live.insert(url, generation);
            }
            Event::Stopped { url } => {
                live.remove(&url);
                self.own_metrics.forget_target(&url);
            }
            Event::Scraped {
                generation,
                report,
                admitted,
            } => {
                if live.get(&report.url) != Some(&generation) {
                    return;
                }
                let node = report.node.as_deref();
                match report.failure {
                    None => self.own_metrics.record_scrape_success(
                        &report.url,
                        node,
                        report.duration,
                        report.samples,
                        report.dropped_families,
                    ),
                    Some(failure) => self.own_metrics.record_scrape_failure(
                        &report.url,
                        node,
                        report.duration,
                        failure,
                    ),
                }
                batch.extend(admitted.map(|admitted| *admitted));
            }
        }
    }

    /// Writes `batch` in one transaction off the runtime's threads (a failure is
    /// logged; the next scrape of each node tries again) and gives the vector back.
    async fn write(
        &self,
        batch: Vec<(NodeMetricsSnapshot, DateTime<Utc>)>,
    ) -> Vec<(NodeMetricsSnapshot, DateTime<Utc>)> {
        let store = Arc::clone(&self.store);
        let cluster = self.cluster_id.clone();
        let interval = self.sample_interval;
        let written = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = store.write_round(&cluster, &batch, interval);
            (result, started.elapsed(), batch)
        })
        .await;
        let Ok((result, took, batch)) = written else {
            tracing::error!("writing scraped snapshots stopped short");
            return Vec::with_capacity(MAX_BATCH);
        };
        self.own_metrics.record_store_write(took, result.is_ok());
        match result {
            Ok(report) => {
                for error in report.refused {
                    tracing::error!(%error, "scraped snapshot not stored");
                }
            }
            Err(error) => {
                tracing::error!(%error, snapshots = batch.len(), "writing scraped snapshots failed")
            }
        }
        batch
    }
}
