//! A source that reads node data from a Prometheus-compatible query API (Prometheus,
//! VictoriaMetrics single node or cluster `select`, Thanos Query) instead of scraping:
//! `--source prometheus=URL`, for clusters beyond one master and nodes that only push
//! through vmagent.
//!
//! A round is a fixed set of instant queries whatever the number of nodes
//! ([`families::round_queries`]: instant groups, one `rate()` per counter family, and
//! the time of each node's newest sample), grouped by the node label
//! ([`assemble`]). Rates are the backend's, over `--source.rate-window`.
//!
//! Stateless and replica-safe: every round is evaluated at a time aligned to the
//! round interval (`floor((now − delay) / interval) × interval`) and a node's
//! snapshot carries its newest sample's time, so two masters on one backend build the
//! same snapshots. The delay (`--source.delay`) keeps the evaluation time behind what
//! the backend may still be ingesting: remote-write batches, and VictoriaMetrics'
//! `-search.latencyOffset` (30 s by default), within which it answers as of
//! `now − 30s`. Prometheus' lookback (5 minutes) would keep a node that stopped alive
//! for 5 minutes; instead a node is judged by its newest sample's time: older than
//! `--offline-after` intervals at the evaluation time and it is left out of the
//! round, so it goes offline by the same rule as a scraped one.
//!
//! Groups that describe a node and hardly change, and the top processes, are asked
//! once per `--source.slow-interval` ([`families::SLOW_GROUPS`]), evaluated at a time
//! aligned to that interval and reused until the next: replicas hold the same answers,
//! and a round at 10,000 nodes reads about half the series.
//!
//! Not chosen: one `rate({__name__=~"a|b"})` for all counters (`rate` drops the name,
//! and Prometheus refuses a result with two series of one label set), and
//! `label_replace` tricks to keep it (backend-specific and hard to read).

pub mod assemble;
pub mod backend_tls;
pub mod families;
pub mod history;
pub mod query_api;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::{NodeSource, Round, RoundWriter, TargetReport};
use assemble::{Answers, Assembly, NodeNaming};
use backend_tls::BackendTls;
use families::Query;
use query_api::{BackendAuth, QueryApi, QueryError, Vector};

/// Queries of one round asked at once.
pub const QUERY_CONCURRENCY: usize = 4;
/// The rate window's default, in scrape intervals of the backend: `rate()` needs two
/// samples in the window, and four intervals leave room for a missed scrape.
pub const RATE_WINDOW_INTERVALS: u32 = 4;

/// The flags of `--source prometheus=URL`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromqlConfig {
    /// The query API's base URL (`/api/v1/query` is added).
    pub url: String,
    pub auth: BackendAuth,
    /// `--source.tls-*`: for an https:// URL.
    pub tls: BackendTls,
    /// `--source.node-label`: the label series are grouped by.
    pub node_label: String,
    /// `--source.node-name`.
    pub naming: NodeNaming,
    /// `--source.rate-window`.
    pub rate_window: Duration,
    /// `--source.delay`.
    pub delay: Duration,
    /// `--source.history`.
    pub history: HistoryFrom,
    /// `--source.slow-interval`: how often [`families::SLOW_GROUPS`] are asked.
    pub slow_interval: Duration,
}

/// Where `/history` is answered from in PromQL mode (`--source.history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFrom {
    /// `query_range` on the backend ([`history::BackendHistory`]).
    Backend,
    /// The local SQLite sampler, as when scraping: for a backend whose retention is
    /// shorter than the master's.
    Local,
}

impl HistoryFrom {
    pub const NAMES: [&'static str; 2] = ["backend", "local"];

    pub fn parse(text: &str) -> Option<HistoryFrom> {
        match text {
            "backend" => Some(HistoryFrom::Backend),
            "local" => Some(HistoryFrom::Local),
            _ => None,
        }
    }
}

/// Reads rounds from a query API.
pub struct PromqlSource {
    api: QueryApi,
    queries: Vec<Query>,
    assembly: Assembly,
    interval: Duration,
    delay: Duration,
    slow_interval: Duration,
    /// The slow groups' answers and the aligned time they were evaluated at.
    slow: Option<(DateTime<Utc>, Vec<Vector>)>,
}

impl PromqlSource {
    /// `interval` is the round interval (`--scrape-interval`), `timeout` one query's
    /// (`--scrape-timeout`), `offline_after` the age at which a node is offline.
    pub fn new(
        config: PromqlConfig,
        interval: Duration,
        timeout: Duration,
        offline_after: Duration,
    ) -> PromqlSource {
        PromqlSource {
            api: QueryApi::new(&config.url, config.auth.clone(), &config.tls, timeout),
            queries: families::round_queries(&config.node_label, config.rate_window),
            assembly: assembly(&config, offline_after),
            interval,
            delay: config.delay,
            slow_interval: config.slow_interval,
            slow: None,
        }
    }

    /// The local store, with `/history` from the backend when `config` says so.
    pub fn history_store(
        config: &PromqlConfig,
        local: crate::api::SharedStore,
        cluster: String,
        timeout: Duration,
        offline_after: Duration,
    ) -> crate::api::SharedStore {
        match config.history {
            HistoryFrom::Local => local,
            HistoryFrom::Backend => std::sync::Arc::new(history::BackendHistory::new(
                local,
                QueryApi::new(&config.url, config.auth.clone(), &config.tls, timeout),
                cluster,
                assembly(config, offline_after),
            )),
        }
    }

    /// The time the round that starts at `now` is evaluated at.
    pub fn evaluation_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        aligned(now, self.delay, self.interval)
    }

    /// Every query of the round at `time`, [`QUERY_CONCURRENCY`] at a time; the first
    /// error ends the round (a round from part of the families would be wrong, not
    /// partial). The slow groups are asked at the slow interval's aligned time when
    /// the answers held are from an earlier one, else those are reused.
    fn answers(&mut self, time: DateTime<Utc>) -> Result<Answers, QueryError> {
        let slow_time = aligned(time, Duration::ZERO, self.slow_interval);
        let slow_fresh = matches!(&self.slow, Some((held, _)) if *held == slow_time);
        let mut results: Vec<(usize, Result<Vector, QueryError>)> = Vec::new();
        let numbered: Vec<(usize, &Query)> = self
            .queries
            .iter()
            .enumerate()
            .filter(|(_, query)| !(slow_fresh && query.is_slow()))
            .collect();
        for chunk in numbered.chunks(QUERY_CONCURRENCY) {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(i, query)| {
                        let api = &self.api;
                        (
                            *i,
                            scope.spawn(move || {
                                let started = Instant::now();
                                let at = if query.is_slow() { slow_time } else { time };
                                let answer = api.instant(query.expr(), at);
                                tracing::debug!(
                                    query = %query.expr().chars().take(80).collect::<String>(),
                                    seconds = started.elapsed().as_secs_f64(),
                                    series = answer.as_ref().map_or(0, |v| v.samples.len()),
                                    "PromQL query"
                                );
                                answer
                            }),
                        )
                    })
                    .collect();
                for (i, handle) in handles {
                    // A query whose thread panicked is a failed query, not a missing one.
                    let result = handle.join().unwrap_or_else(|_| {
                        Err(QueryError {
                            query: self.queries[i].expr().chars().take(200).collect(),
                            failure: query_api::QueryFailure::Lost,
                        })
                    });
                    results.push((i, result));
                }
            });
        }
        let mut answers = Answers::default();
        let mut slow = Vec::new();
        for (i, result) in results {
            let vector = result?;
            match &self.queries[i] {
                Query::Newest { .. } => answers.newest = vector,
                query @ Query::Instant { .. } if query.is_slow() => slow.push(vector),
                Query::Instant { .. } => answers.instant.push(vector),
                Query::Rate { family, .. } => answers.rates.push((family, vector)),
            }
        }
        if !slow_fresh {
            tracing::debug!(%slow_time, groups = slow.len(), "PromQL slow groups asked");
            self.slow = Some((slow_time, slow));
        }
        if let Some((_, held)) = &self.slow {
            answers.instant.extend(held.iter().cloned());
        }
        Ok(answers)
    }
}

impl NodeSource for PromqlSource {
    fn collect(&mut self) -> Round {
        let started = Instant::now();
        let time = self.evaluation_time(Utc::now());
        let url = self.api.query_url().to_owned();
        let answers = match self.answers(time) {
            Ok(answers) => answers,
            Err(error) => {
                let failure = error.failure.kind();
                tracing::warn!(url = %url, reason = failure.as_str(), %error, "PromQL round failed");
                return Round {
                    snapshots: Vec::new(),
                    targets: vec![TargetReport {
                        url,
                        node: None,
                        duration: started.elapsed(),
                        samples: 0,
                        dropped_families: [0; 3],
                        failure: Some(failure),
                    }],
                };
            }
        };
        let series = answers.newest.samples.len()
            + answers
                .instant
                .iter()
                .map(|v| v.samples.len())
                .sum::<usize>()
            + answers
                .rates
                .iter()
                .map(|(_, v)| v.samples.len())
                .sum::<usize>();
        let left_out = answers.newest.left_out
            + answers.instant.iter().map(|v| v.left_out).sum::<usize>()
            + answers.rates.iter().map(|(_, v)| v.left_out).sum::<usize>();
        let queried = started.elapsed();
        let assembled = self.assembly.snapshots(answers, time);
        let assembly_seconds = (started.elapsed() - queried).as_secs_f64();
        if left_out > 0 || assembled.unlabelled > 0 || !assembled.unnamed.is_empty() {
            let unnamed: Vec<String> = assembled
                .unnamed
                .iter()
                .take(10)
                .map(|v| v.chars().take(64).collect())
                .collect();
            tracing::warn!(
                oversized_series = left_out,
                series_without_node_label = assembled.unlabelled,
                nodes_without_name_or_heartbeat = assembled.unnamed.len(),
                first = %unnamed.join(", "),
                "PromQL round left series out"
            );
        }
        tracing::debug!(
            %time,
            nodes = assembled.snapshots.len(),
            stale = assembled.stale,
            series,
            query_seconds = queried.as_secs_f64(),
            assembly_seconds,
            seconds = started.elapsed().as_secs_f64(),
            "PromQL round"
        );
        Round {
            snapshots: assembled.snapshots,
            targets: vec![TargetReport {
                url,
                node: None,
                duration: started.elapsed(),
                samples: series,
                dropped_families: [0; 3],
                failure: None,
            }],
        }
    }
}

/// How answers become snapshots under `config`.
fn assembly(config: &PromqlConfig, offline_after: Duration) -> Assembly {
    Assembly {
        node_label: config.node_label.clone(),
        naming: config.naming,
        rate_window: config.rate_window,
        max_age: offline_after,
    }
}

/// `floor((now − delay) / interval) × interval`.
pub fn aligned(now: DateTime<Utc>, delay: Duration, interval: Duration) -> DateTime<Utc> {
    let step = (interval.as_millis() as i64).max(1);
    let shifted = now.timestamp_millis() - delay.as_millis() as i64;
    DateTime::from_timestamp_millis(shifted.div_euclid(step) * step).unwrap_or(now)
}

/// How far after its evaluation time a round starts: what was scraped just before it
/// has been written by then.
const ROUND_SETTLE: Duration = Duration::from_millis(100);

/// Every interval, at the aligned time plus the delay: a round from `source`, handed to
/// `writer`. Blocking: run it on a thread of its own. Aligned rounds are what makes
/// replicas agree: each evaluates the same times.
pub fn run(mut source: PromqlSource, mut writer: RoundWriter) -> ! {
    loop {
        let now = Utc::now();
        let next = source.evaluation_time(now)
            + TimeDelta::from_std(source.interval + source.delay + ROUND_SETTLE)
                .unwrap_or(TimeDelta::MAX);
        if let Ok(wait) = (next - now).to_std() {
            std::thread::sleep(wait);
        }
        writer.write(source.collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_evaluated_at_aligned_times() {
        let now = DateTime::from_timestamp_millis(1_796_317_853_700).unwrap();
        let time = aligned(now, Duration::from_secs(30), Duration::from_secs(5));
        assert_eq!(time.timestamp_millis(), 1_796_317_820_000);
        let time = aligned(now, Duration::ZERO, Duration::from_millis(1500));
        assert_eq!(time.timestamp_millis() % 1500, 0);
        assert!(now - time < TimeDelta::milliseconds(1500));
    }
}
