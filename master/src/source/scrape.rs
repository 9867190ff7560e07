//! Scrapes the exporters (edge-exporter or a plain node_exporter) of every target,
//! a bounded number at a time, each within a timeout, and builds each node's
//! snapshot from this scrape and the previous one of the same target (for rates).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::targets::{Target, TargetSet};
use super::{NodeSource, Round, TargetReport};
use crate::snapshot::{build_snapshot, reported_node_name, Scrape};

/// The most a target's answer may be; a larger one is refused.
const MAX_BODY_BYTES: u64 = 32 << 20;
/// OpenMetrics first (edge-exporter serves it), Prometheus text 0.0.4 otherwise
/// (node_exporter 1.5 serves only that): both are read.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

pub struct ScrapeSource {
    targets: TargetSet,
    agent: ureq::Agent,
    concurrency: usize,
    /// The last good scrape of each target URL, for rates.
    previous: HashMap<String, Scrape>,
}

impl ScrapeSource {
    pub fn new(targets: TargetSet, timeout: Duration, concurrency: usize) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        ScrapeSource {
            targets,
            agent,
            concurrency: concurrency.max(1),
            previous: HashMap::new(),
        }
    }
}

/// What fetching one target gave.
struct Fetched {
    target: Target,
    result: Result<Scrape, String>,
    duration: Duration,
}

fn fetch(agent: &ureq::Agent, target: Target) -> Fetched {
    let started = Instant::now();
    let result = (|| {
        let mut response = agent
            .get(&target.url)
            .header("Accept", ACCEPT)
            .call()
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let openmetrics = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/openmetrics-text"));
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        if openmetrics {
            Scrape::parse(&openmetrics_as_text(&body), Utc::now())
        } else {
            Scrape::parse(&body, Utc::now())
        }
    })();
    Fetched {
        target,
        result,
        duration: started.elapsed(),
    }
}

/// OpenMetrics as the text 0.0.4 parser reads it. What the exporters send differs
/// only in lines the snapshot does not need: `# EOF` and `# UNIT` go, `unknown`
/// becomes `untyped`; counter samples already carry their `_total` names, which are
/// the names looked up.
fn openmetrics_as_text(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        match line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" unknown"))
        {
            Some(name) => {
                out.push_str("# TYPE ");
                out.push_str(name);
                out.push_str(" untyped");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out.into_bytes()
}

impl NodeSource for ScrapeSource {
    fn collect(&mut self) -> Round {
        let targets = self.targets.current();
        let mut fetched = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(self.concurrency) {
            let agent = &self.agent;
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .cloned()
                    .map(|target| scope.spawn(move || fetch(agent, target)))
                    .collect();
                for handle in handles {
                    if let Ok(result) = handle.join() {
                        fetched.push(result);
                    }
                }
            });
        }
        let mut round = Round::default();
        let mut seen_urls = Vec::new();
        for Fetched {
            target,
            result,
            duration,
        } in fetched
        {
            seen_urls.push(target.url.clone());
            match result {
                Ok(scrape) => {
                    let node = target.name.clone().or_else(|| reported_node_name(&scrape));
                    let samples = scrape.sample_count();
                    match &node {
                        Some(node) => {
                            let snapshot =
                                build_snapshot(node, &scrape, self.previous.get(&target.url));
                            round.snapshots.push(snapshot);
                        }
                        None => {
                            tracing::warn!(url = %target.url, "target reports no node name (no edge_node_info or node_uname_info) and has none configured")
                        }
                    }
                    round.targets.push(TargetReport {
                        url: target.url.clone(),
                        node,
                        up: true,
                        duration,
                        samples,
                        error: None,
                    });
                    self.previous.insert(target.url, scrape);
                }
                Err(error) => {
                    tracing::warn!(url = %target.url, %error, "scrape failed");
                    round.targets.push(TargetReport {
                        url: target.url,
                        node: target.name,
                        up: false,
                        duration,
                        samples: 0,
                        error: Some(error),
                    });
                }
            }
        }
        // Targets that went away take their previous scrape with them.
        self.previous.retain(|url, _| seen_urls.contains(url));
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_reads_like_text() {
        let om = b"# TYPE node_cpu_seconds counter\n# HELP node_cpu_seconds Seconds.\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n# TYPE x unknown\n# UNIT y seconds\nx 1\n# EOF\n";
        let scrape = Scrape::parse(&openmetrics_as_text(om), Utc::now()).unwrap();
        let names: Vec<&str> = scrape
            .families
            .iter()
            .filter(|f| !f.metrics.is_empty())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["node_cpu_seconds_total", "x"]);
        assert!(
            Scrape::parse(om, Utc::now()).is_err(),
            "the raw body needs the normalisation"
        );
    }
}
