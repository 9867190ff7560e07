//! The scrape source: every target on its own timer, spread over the scrape interval.
//!
//! As Prometheus and vmagent do, a target's scrapes fall at a fixed offset within the
//! interval, taken from a hash of its URL, so a thousand targets are not all scraped
//! at once and a target's period stays the interval whatever the others do: a slow or
//! dead target holds only its own timer (and, while its scrape runs, one of the
//! `concurrency` in-flight permits). Each scrape is processed as it arrives (parsed,
//! turned into a snapshot, admitted) and handed to the [`BatchWriter`]; between
//! scrapes a target keeps only the counters its rates are made from.
//!
//! The target list (flags, targets file, DNS) is re-read every interval off the
//! runtime's threads; a target that appears gets a timer, one that goes away loses its
//! timer and its series in the master's own metrics. A scrape still due when the
//! previous one of the same target has not finished is skipped, not queued.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use foldhash::fast::RandomState;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::batch::{BatchWriter, Event, MAX_QUEUED_EVENTS};
use super::scrape::Scraper;
use super::targets::{Target, TargetSet};
use crate::admission::Admission;

/// How the scrape source runs, from the master's flags.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeSettings {
    pub interval: Duration,
    pub timeout: Duration,
    /// Scrapes in flight at most (`--scrape-concurrency`); a due scrape waits for one
    /// to finish.
    pub concurrency: usize,
    pub admission: Admission,
}

/// What every target's task shares.
struct Shared {
    scraper: Scraper,
    settings: ScrapeSettings,
    in_flight: Semaphore,
    events: mpsc::Sender<Event>,
    /// Where the offsets count from: the source's start.
    epoch: Instant,
}

/// Scrapes `targets` into `writer` forever. Must run within a Tokio runtime (its own,
/// so that parsing scrapes never delays the API's answers).
pub async fn run(targets: TargetSet, settings: ScrapeSettings, writer: BatchWriter) {
    let (events, received) = mpsc::channel(MAX_QUEUED_EVENTS);
    tokio::spawn(writer.run(received));
    // An idle connection outlives the wait between two scrapes of its target.
    let idle = settings.interval * 2 + settings.timeout;
    let shared = Arc::new(Shared {
        scraper: Scraper::new(settings.timeout, idle),
        settings,
        in_flight: Semaphore::new(settings.concurrency.max(1)),
        events,
        epoch: Instant::now(),
    });
    let mut running = Running::default();
    let mut targets = Some(targets);
    loop {
        let started = Instant::now();
        let Some(mut set) = targets.take() else {
            return;
        };
        // Reading the file and resolving DNS block: not on the runtime's threads.
        match tokio::task::spawn_blocking(move || {
            let current = set.current();
            (set, current)
        })
        .await
        {
            Ok((set, current)) => {
                targets = Some(set);
                if running.apply(current, &shared).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::error!(%error, "reading the targets failed; scraping stops");
                return;
            }
        }
        tokio::time::sleep_until(started + settings.interval).await;
    }
}

/// The targets being scraped, by URL.
#[derive(Default)]
struct Running {
    by_url: HashMap<String, (Target, AbortHandle), RandomState>,
    generation: u64,
}

impl Running {
    /// Starts timers for targets new in `current` and stops those gone from it (a URL
    /// whose name changed is both). Fails when the writer is gone.
    async fn apply(&mut self, current: Vec<Target>, shared: &Arc<Shared>) -> Result<(), ()> {
        let mut fresh: HashMap<String, Target, RandomState> = current
            .into_iter()
            .map(|target| (target.url.clone(), target))
            .collect();
        let gone: Vec<String> = self
            .by_url
            .iter()
            .filter(|(url, (target, _))| fresh.get(*url) != Some(target))
            .map(|(url, _)| url.clone())
            .collect();
        for url in gone {
            if let Some((_, task)) = self.by_url.remove(&url) {
                task.abort();
            }
            shared
                .events
                .send(Event::Stopped { url })
                .await
                .map_err(drop)?;
        }
        fresh.retain(|url, _| !self.by_url.contains_key(url));
        for (url, target) in fresh {
            self.generation += 1;
            let generation = self.generation;
            shared
                .events
                .send(Event::Started {
                    url: url.clone(),
                    generation,
                })
                .await
                .map_err(drop)?;
            let task = tokio::spawn(scrape_forever(
                target.clone(),
                generation,
                Arc::clone(shared),
            ));
            self.by_url.insert(url, (target, task.abort_handle()));
        }
        Ok(())
    }
}

/// Where within the interval `url`'s scrapes fall: the same on every start.
pub fn offset(url: &str, interval: Duration) -> Duration {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(url);
    let nanos = interval.as_nanos().max(1);
    Duration::from_nanos((u128::from(hash) % nanos) as u64)
}

/// The first of `base`, `base + interval`, `base + 2·interval`, … not before `after`.
fn next_tick(base: Instant, interval: Duration, after: Instant) -> Instant {
    if after <= base {
        return base;
    }
    let behind = (after - base).as_nanos();
    let step = interval.as_nanos().max(1);
    let ticks = behind.div_ceil(step);
    base + Duration::from_nanos((ticks * step).min(u128::from(u64::MAX)) as u64)
}

/// One target's timer: a scrape at each of its ticks, each handed to the writer.
async fn scrape_forever(target: Target, generation: u64, shared: Arc<Shared>) {
    let interval = shared.settings.interval;
    let base = shared.epoch + offset(&target.url, interval);
    let mut due = next_tick(base, interval, Instant::now());
    let mut previous = None;
    loop {
        tokio::time::sleep_until(due).await;
        let Ok(permit) = shared.in_flight.acquire().await else {
            return;
        };
        let scraped = shared.scraper.scrape(&target, &mut previous).await;
        drop(permit);
        let admitted = scraped.snapshot.and_then(|snapshot| {
            match shared.settings.admission.scraped(snapshot) {
                Ok(snapshot) => Some(Box::new((snapshot, Utc::now()))),
                Err(error) => {
                    tracing::warn!(%error, url = %target.url, "scraped snapshot not admitted");
                    None
                }
            }
        });
        let event = Event::Scraped {
            generation,
            report: scraped.report,
            admitted,
        };
        if shared.events.send(event).await.is_err() {
            return;
        }
        let now = Instant::now();
        let next = next_tick(base, interval, due + interval / 2);
        due = if next >= now {
            next
        } else {
            tracing::debug!(url = %target.url, "scrape took past its next tick; skipping to the one after");
            next_tick(base, interval, now)
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::admission::CmdlinePolicy;
    use crate::own_metrics::OwnMetrics;
    use crate::store::Store;

    #[test]
    fn ticks_fall_at_the_offset_of_each_interval() {
        let interval = Duration::from_secs(5);
        let a = offset("http://10.0.0.1:9100/metrics", interval);
        assert!(a < interval);
        assert_eq!(a, offset("http://10.0.0.1:9100/metrics", interval));
        // Offsets spread: 1,000 URLs land in every tenth of the interval.
        let mut tenths = [0; 10];
        for i in 0..1000 {
            let at = offset(
                &format!("http://10.0.{}.{}:9100/metrics", i / 250, i % 250),
                interval,
            );
            tenths[(at.as_millis() / 500) as usize] += 1;
        }
        assert!(tenths.iter().all(|&n| n > 50), "{tenths:?}");

        let base = Instant::now();
        assert_eq!(next_tick(base, interval, base), base);
        assert_eq!(next_tick(base + interval, interval, base), base + interval);
        let at = base + Duration::from_millis(5_001);
        assert_eq!(next_tick(base, interval, at), base + interval * 2);
        assert_eq!(
            next_tick(base, interval, base + interval * 3),
            base + interval * 3
        );
    }

    /// An exporter stand-in on loopback that logs when each path was asked for.
    async fn logging_exporter() -> (u16, Arc<Mutex<Vec<(String, std::time::Instant)>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback({
            let log = Arc::clone(&log);
            move |uri: axum::http::Uri| {
                log.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), std::time::Instant::now()));
                async { "edge_node_info{node_name=\"ignored\"} 1\nnode_load1 0.5\n" }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (port, log)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_target_delays_nobody_and_a_removed_one_is_forgotten() {
        let (port, log) = logging_exporter().await;
        // Accepts and never answers: each scrape of it runs into the timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                held.push(stream);
            }
        });
        // Nothing listens on a port just released: connections are refused.
        let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let good = format!("http://127.0.0.1:{port}/good");
        let refused = format!("http://127.0.0.1:{refused_port}/metrics");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets");
        let both = format!("good={good}\nsilent=127.0.0.1:{silent_port}\n");
        std::fs::write(&file, format!("{both}refused={refused}\n")).unwrap();

        let interval = Duration::from_millis(600);
        let timeout = Duration::from_millis(500);
        let store = Arc::new(Store::open_in_memory().unwrap());
        let metrics = Arc::new(OwnMetrics::new());
        let settings = ScrapeSettings {
            interval,
            timeout,
            concurrency: 3,
            admission: Admission {
                cmdlines: CmdlinePolicy::Redact,
                retention: Duration::from_secs(86_400),
            },
        };
        let writer = BatchWriter {
            store: Arc::clone(&store),
            own_metrics: Arc::clone(&metrics),
            cluster_id: "c1".to_owned(),
            sample_interval: Duration::from_secs(60),
        };
        let source = tokio::spawn(run(
            TargetSet::new(Vec::new(), Some(file.clone()), None),
            settings,
            writer,
        ));
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        let text = metrics.render();
        assert!(
            text.contains(&format!("target=\"{refused}\",reason=\"connect\"")),
            "{text}"
        );
        assert!(text.contains("reason=\"timeout\""), "{text}");

        // The refused target leaves the file: its timer stops and its series go.
        std::fs::write(&file, &both).unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        source.abort();
        let text = metrics.render();
        assert!(!text.contains(&refused), "{text}");
        assert!(text.contains(&good), "{text}");

        // The good target was scraped every interval, the dead ones' timeouts
        // notwithstanding: no gap as long as an interval and a half.
        let times: Vec<_> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/good")
            .map(|(_, at)| *at)
            .collect();
        assert!(times.len() >= 6, "{} scrapes in 4.8 s", times.len());
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap > interval / 2 && gap < interval * 3 / 2, "{gap:?}");
        }
        let latest = store.latest("c1").unwrap();
        let names: Vec<_> = latest.iter().map(|(s, _)| s.node_name.as_str()).collect();
        assert_eq!(names, ["good"]);
    }
}
