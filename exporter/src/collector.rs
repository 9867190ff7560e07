//! The collector interface and the scraper that runs the enabled collectors.
//!
//! A collector reads one source (a procfs table, a sysfs class, a syscall) and
//! appends its families to a [`MetricSet`]. The scraper runs each enabled collector
//! into a set of its own, so a collector that fails contributes nothing but
//! `node_scrape_collector_success{collector} 0` — never a half-read table — and
//! never fails the scrape.

use std::time::Instant;

use clap::{Arg, ArgMatches};
use regex_lite::Regex;

use crate::error::{CollectError, ConfigError};
use crate::own_process::OwnProcess;
use crate::paths::Paths;
use crate::scrape_filter::ScrapeFilter;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

/// One source of metrics.
pub trait Collector: Send {
    /// Appends this collector's families to `out`; `sources` holds what other
    /// collectors already read in this scrape (procfs tables, the link dump).
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError>;
}

/// What the registry knows of a collector: its name (as in `--collector.<name>`),
/// whether it runs by default, its own flags, and how to build it from them.
pub struct CollectorSpec {
    pub name: &'static str,
    pub enabled_by_default: bool,
    pub args: fn() -> Vec<Arg>,
    pub build: fn(&BuildContext) -> Result<Box<dyn Collector>, ConfigError>,
}

/// The parsed command line and paths a collector is built from.
pub struct BuildContext<'a> {
    pub paths: &'a Paths,
    pub matches: &'a ArgMatches,
}

impl BuildContext<'_> {
    pub fn string(&self, flag: &str) -> Option<String> {
        self.matches.get_one::<String>(flag).cloned()
    }

    /// A kingpin-style boolean: `--name` / `--no-name`, the last one given wins.
    pub fn switch(&self, name: &str, default: bool) -> bool {
        if self.matches.get_flag(&format!("no-{name}")) {
            false
        } else if self.matches.get_flag(name) {
            true
        } else {
            default
        }
    }

    /// A regex flag; empty or absent means "none".
    pub fn regex(&self, flag: &str) -> Result<Option<Regex>, ConfigError> {
        match self.string(flag) {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => Regex::new(&text).map(Some).map_err(|e| {
                ConfigError::new(
                    format!("--{flag}"),
                    format!("not a valid regular expression: {e}"),
                )
            }),
        }
    }

    /// node_exporter's include/exclude pair: giving both is an error.
    pub fn device_filter(
        &self,
        include_flag: &str,
        exclude_flag: &str,
    ) -> Result<DeviceFilter, ConfigError> {
        let include = self.regex(include_flag)?;
        let exclude = self.regex(exclude_flag)?;
        if include.is_some()
            && exclude.is_some()
            && self.matches.value_source(exclude_flag)
                == Some(clap::parser::ValueSource::CommandLine)
        {
            return Err(ConfigError::new(
                format!("--{include_flag}"),
                format!("cannot be combined with --{exclude_flag}"),
            ));
        }
        Ok(match include {
            Some(include) => DeviceFilter::Include(include),
            None => exclude.map_or(DeviceFilter::All, DeviceFilter::Exclude),
        })
    }
}

/// The `--name` / `--no-name` pair of a boolean flag (read with [`BuildContext::switch`]).
pub fn switch_args(name: &'static str, help: &'static str) -> [Arg; 2] {
    let negated: &'static str = Box::leak(format!("no-{name}").into_boxed_str());
    [
        Arg::new(name)
            .long(name)
            .help(help)
            .action(clap::ArgAction::SetTrue)
            .overrides_with(negated),
        Arg::new(negated)
            .long(negated)
            .hide(true)
            .action(clap::ArgAction::SetTrue)
            .overrides_with(name),
    ]
}

/// Which devices a collector reports.
#[derive(Debug, Clone)]
pub enum DeviceFilter {
    All,
    Include(Regex),
    Exclude(Regex),
}

impl DeviceFilter {
    pub fn accepts(&self, device: &str) -> bool {
        match self {
            DeviceFilter::All => true,
            DeviceFilter::Include(re) => re.is_match(device),
            DeviceFilter::Exclude(re) => !re.is_match(device),
        }
    }
}

/// Runs the enabled collectors and adds the exporter's own families.
pub struct Scraper {
    collectors: Vec<(&'static str, Box<dyn Collector>)>,
    constant: MetricSet,
    sources: Sources,
    /// The exporter's own `process_*` families, unless `--web.disable-exporter-metrics`.
    own_process: Option<OwnProcess>,
    /// Families of the last scrape: the next one's set is allocated that large at once.
    last_families: usize,
}

impl Scraper {
    /// `constant` holds families that never change (build info, node name).
    pub fn new(collectors: Vec<(&'static str, Box<dyn Collector>)>, constant: MetricSet) -> Self {
        Scraper {
            collectors,
            constant,
            sources: Sources::default(),
            own_process: None,
            last_families: 0,
        }
    }

    /// Adds the exporter's own `process_*` families to every scrape.
    pub fn with_own_process(mut self, own: OwnProcess) -> Self {
        self.own_process = Some(own);
        self
    }

    pub fn collector_names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|(name, _)| *name).collect()
    }

    pub fn scrape(&mut self) -> MetricSet {
        self.scrape_filtered(&ScrapeFilter::All)
    }

    /// A scrape of the collectors `filter` selects (node_exporter's `collect[]` and
    /// `exclude[]`): the others do not run and get no `node_scrape_collector_*` series.
    pub fn scrape_filtered(&mut self, filter: &ScrapeFilter) -> MetricSet {
        let mut out = MetricSet::with_capacity(self.last_families + 16);
        self.sources.begin_scrape();
        let mut outcomes = Vec::with_capacity(self.collectors.len());
        for (name, collector) in &mut self.collectors {
            if !filter.runs(name) {
                continue;
            }
            let started = Instant::now();
            let mut part = MetricSet::new();
            let result = collector.update(&mut self.sources, &mut part);
            let seconds = started.elapsed().as_secs_f64();
            let success = match result {
                Ok(()) => {
                    out.append(part);
                    true
                }
                Err(error @ CollectError::NoData(_)) => {
                    tracing::debug!(collector = *name, %error, "collector has nothing to report");
                    false
                }
                Err(error) => {
                    tracing::warn!(collector = *name, %error, "collector failed");
                    false
                }
            };
            outcomes.push((*name, seconds, success));
        }
        for (name, seconds, success) in outcomes {
            out.family(
                "node_scrape_collector_duration_seconds",
                "node_exporter: Duration of a collector scrape.",
                MetricKind::Gauge,
            )
            .push(&[("collector", name)], seconds);
            out.family(
                "node_scrape_collector_success",
                "node_exporter: Whether a collector succeeded.",
                MetricKind::Gauge,
            )
            .push(&[("collector", name)], if success { 1.0 } else { 0.0 });
        }
        out.append(self.constant.clone());
        if let Some(own) = &self.own_process {
            let mut process = MetricSet::new();
            own.record(&mut process);
            out.append(process);
        }
        self.last_families = out.families().len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fails;
    impl Collector for Fails {
        fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
            out.gauge("half_written", "never shown", &[], 1.0);
            Err(CollectError::parse(
                std::path::Path::new("/proc/x"),
                1,
                "bad",
            ))
        }
    }

    struct Works;
    impl Collector for Works {
        fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
            out.gauge("fine", "fine", &[], 7.0);
            Ok(())
        }
    }

    #[test]
    fn a_failing_collector_reports_zero_and_nothing_else() {
        let mut constant = MetricSet::new();
        constant.gauge("build_info", "b", &[("version", "1")], 1.0);
        let mut scraper = Scraper::new(
            vec![("fails", Box::new(Fails)), ("works", Box::new(Works))],
            constant,
        );
        let set = scraper.scrape();
        assert!(set.get("half_written").is_none());
        assert_eq!(set.value("fine", &[]), Some(7.0));
        assert_eq!(
            set.value("node_scrape_collector_success", &[("collector", "fails")]),
            Some(0.0)
        );
        assert_eq!(
            set.value("node_scrape_collector_success", &[("collector", "works")]),
            Some(1.0)
        );
        assert_eq!(set.value("build_info", &[("version", "1")]), Some(1.0));
        // A second scrape repeats the constant families once, not twice.
        let set = scraper.scrape();
        assert_eq!(set.get("build_info").map(|f| f.len()), Some(1));
        // A filtered scrape runs only what it names, and reports only on that.
        let set = scraper.scrape_filtered(&ScrapeFilter::Only(vec!["works".into()]));
        assert_eq!(set.value("fine", &[]), Some(7.0));
        assert_eq!(
            set.get("node_scrape_collector_success").map(|f| f.len()),
            Some(1)
        );
        let set = scraper.scrape_filtered(&ScrapeFilter::Except(vec!["works".into()]));
        assert_eq!(set.value("fine", &[]), None);
        assert_eq!(
            set.value("node_scrape_collector_success", &[("collector", "fails")]),
            Some(0.0)
        );
        assert_eq!(set.value("build_info", &[("version", "1")]), Some(1.0));
    }
}
