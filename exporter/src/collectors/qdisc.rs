//! `node_qdisc_{bytes,packets,drops,requeues,overlimits}_total`,
//! `node_qdisc_current_queue_length` and `node_qdisc_backlog`, labelled `{device,kind}`,
//! for the root queueing discipline of each interface: an rtnetlink qdisc dump
//! (RTM_GETQDISC) on the scrape's shared socket, named from the shared link dump.
//!
//! Only root qdiscs are reported (`tcm_parent` TC_H_ROOT); their children, and ingress
//! or clsact qdiscs, are not. The counters are the kernel's 32-bit ones where it keeps
//! 32 bits (packets too: node_exporter's qdisc library reads `gnet_stats_basic`, not
//! the 64-bit TCA_STATS_PKT64, so packets wrap at 2^32 as they do there).
//! A qdisc whose link is not in the link dump (created between the two dumps) is
//! skipped; node_exporter would fail the scrape on it.
//!
//! `--collector.qdisc.fixtures=<dir>` reads `<dir>/results.json` instead of the kernel:
//! node_exporter's end-to-end test format, a JSON array of objects with the fields
//! `IfaceName`, `Parent`, `Kind`, `Bytes`, `Packets`, `Drops`, `Requeues`, `Overlimits`,
//! `Qlen`, `Backlog` (matched without regard to case, absent ones 0, as Go's
//! `encoding/json` does). `--collector.qdisc.device-include` / `-exclude` pick
//! interfaces by name; the hidden `--collector.qdisk.*` spellings still work.

use std::path::{Path, PathBuf};

use clap::Arg;
use serde_json::Value;

use crate::collector::{BuildContext, Collector, CollectorSpec, DeviceFilter};
use crate::error::{CollectError, ConfigError};
use crate::read::read_table_string;
use crate::rtnetlink::Qdisc;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "qdisc",
    enabled_by_default: false,
    args,
    build: |ctx| Ok(Box::new(QdiscStats::new(ctx)?)),
};

const FIXTURES: &str = "collector.qdisc.fixtures";
const INCLUDE: &str = "collector.qdisc.device-include";
const EXCLUDE: &str = "collector.qdisc.device-exclude";
const OLD_INCLUDE: &str = "collector.qdisk.device-include";
const OLD_EXCLUDE: &str = "collector.qdisk.device-exclude";
/// `tcm_parent` of a root qdisc.
const TC_H_ROOT: u32 = u32::MAX;

fn args() -> Vec<Arg> {
    vec![
        Arg::new(FIXTURES)
            .long(FIXTURES)
            .default_value("")
            .help("test fixtures to use for qdisc collector end-to-end testing"),
        Arg::new(INCLUDE)
            .long(INCLUDE)
            .help("Regexp of qdisc devices to include (mutually exclusive to device-exclude)."),
        Arg::new(OLD_INCLUDE)
            .long(OLD_INCLUDE)
            .hide(true)
            .help("DEPRECATED: Use collector.qdisc.device-include"),
        Arg::new(EXCLUDE)
            .long(EXCLUDE)
            .help("Regexp of qdisc devices to exclude (mutually exclusive to device-include)."),
        Arg::new(OLD_EXCLUDE)
            .long(OLD_EXCLUDE)
            .hide(true)
            .help("DEPRECATED: Use collector.qdisc.device-exclude"),
    ]
}

pub struct QdiscStats {
    filter: DeviceFilter,
    /// `<fixtures>/results.json`, when reading fixtures instead of the kernel.
    fixtures: Option<PathBuf>,
}

impl QdiscStats {
    fn new(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let include = merged_flag(ctx, INCLUDE, OLD_INCLUDE)?;
        let exclude = merged_flag(ctx, EXCLUDE, OLD_EXCLUDE)?;
        if !include.is_empty() && !exclude.is_empty() {
            return Err(ConfigError::new(
                format!("--{INCLUDE}"),
                format!("cannot be combined with --{EXCLUDE}"),
            ));
        }
        let compile = |flag: &str, text: &str| {
            regex_lite::Regex::new(text).map_err(|e| {
                ConfigError::new(
                    format!("--{flag}"),
                    format!("not a valid regular expression: {e}"),
                )
            })
        };
        let filter = if !include.is_empty() {
            DeviceFilter::Include(compile(INCLUDE, &include)?)
        } else if !exclude.is_empty() {
            DeviceFilter::Exclude(compile(EXCLUDE, &exclude)?)
        } else {
            DeviceFilter::All
        };
        let fixtures = ctx
            .string(FIXTURES)
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(&dir).join("results.json"));
        Ok(QdiscStats { filter, fixtures })
    }
}

/// A flag and its deprecated spelling: the old one stands in when the new one is
/// not given; giving both is an error (node_exporter's rule).
fn merged_flag(ctx: &BuildContext, flag: &str, old: &str) -> Result<String, ConfigError> {
    let new_value = ctx.string(flag).unwrap_or_default();
    let old_value = ctx.string(old).unwrap_or_default();
    if old_value.is_empty() {
        return Ok(new_value);
    }
    if !new_value.is_empty() {
        return Err(ConfigError::new(
            format!("--{old}"),
            format!("cannot be combined with --{flag}"),
        ));
    }
    tracing::warn!("--{old} is DEPRECATED and will be removed in 2.0.0, use --{flag}");
    Ok(old_value)
}

impl Collector for QdiscStats {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        if let Some(path) = &self.fixtures {
            let text = read_table_string(path)?;
            let entries = parse_fixtures(&text, path)?;
            // A fixture's root has parent 0: the library's TC_H_ROOT → 0 turn happens
            // on the kernel's replies, before they are written out as fixtures.
            let roots = entries
                .iter()
                .filter(|(_, qdisc)| qdisc.parent == 0)
                .map(|(name, qdisc)| (name.as_str(), qdisc));
            record(roots, &self.filter, out);
            return Ok(());
        }
        let qdiscs = sources.qdiscs()?;
        let links = sources.links()?;
        // node_exporter's library turns TC_H_ROOT into 0 and reports parent 0 only.
        let roots = qdiscs
            .iter()
            .filter(|q| q.parent == TC_H_ROOT || q.parent == 0);
        let named = roots.filter_map(|qdisc| {
            let link = links.iter().find(|link| link.index == qdisc.ifindex)?;
            Some((link.name.as_str(), qdisc))
        });
        record(named, &self.filter, out);
        Ok(())
    }
}

/// Appends the seven families for each qdisc (the caller picks the roots) of an
/// accepted device.
pub fn record<'a>(
    qdiscs: impl Iterator<Item = (&'a str, &'a Qdisc)>,
    filter: &DeviceFilter,
    out: &mut MetricSet,
) {
    type Field = fn(&Qdisc) -> f64;
    const FAMILIES: [(&str, &str, MetricKind, Field); 7] = [
        (
            "node_qdisc_bytes_total",
            "Number of bytes sent.",
            MetricKind::Counter,
            |q| q.bytes as f64,
        ),
        (
            "node_qdisc_packets_total",
            "Number of packets sent.",
            MetricKind::Counter,
            |q| q.packets.into(),
        ),
        (
            "node_qdisc_drops_total",
            "Number of packets dropped.",
            MetricKind::Counter,
            |q| q.drops.into(),
        ),
        (
            "node_qdisc_requeues_total",
            "Number of packets dequeued, not transmitted, and requeued.",
            MetricKind::Counter,
            |q| q.requeues.into(),
        ),
        (
            "node_qdisc_overlimits_total",
            "Number of overlimit packets.",
            MetricKind::Counter,
            |q| q.overlimits.into(),
        ),
        (
            "node_qdisc_current_queue_length",
            "Number of packets currently in queue to be sent.",
            MetricKind::Gauge,
            |q| q.qlen.into(),
        ),
        (
            "node_qdisc_backlog",
            "Number of bytes currently in queue to be sent.",
            MetricKind::Gauge,
            |q| q.backlog.into(),
        ),
    ];
    for (device, qdisc) in qdiscs {
        if !filter.accepts(device) {
            continue;
        }
        let labels = [("device", device), ("kind", qdisc.kind.as_str())];
        for (name, help, kind, field) in FAMILIES {
            out.family(name, help, kind).push(&labels, field(qdisc));
        }
    }
    out.sort_series();
}

/// The entries of a fixtures `results.json`: each device name with its qdisc.
pub fn parse_fixtures(text: &str, path: &Path) -> Result<Vec<(String, Qdisc)>, CollectError> {
    let bad = |message: String| CollectError::parse(path, 0, message);
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CollectError::parse(path, e.line(), format!("not JSON: {e}")))?;
    // Go's decoder takes `null` for an empty list, and a `null` entry for one whose
    // fields are all zero (reported as device "" kind "").
    let items = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(bad("not a JSON array".to_string())),
    };
    let no_fields = serde_json::Map::new();
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fields = match item {
            Value::Object(fields) => fields,
            Value::Null => &no_fields,
            _ => return Err(bad(format!("entry {i}: not an object"))),
        };
        let mut name = String::new();
        let mut qdisc = Qdisc::default();
        for (key, value) in fields {
            let wide = |limit: u64| -> Result<u64, CollectError> {
                match value {
                    Value::Null => Ok(0),
                    _ => value
                        .as_u64()
                        .filter(|&n| n <= limit)
                        .ok_or_else(|| bad(format!("entry {i}: {key}: not a number that fits"))),
                }
            };
            let narrow = || wide(u32::MAX.into()).map(|n| n as u32);
            let text = || match value {
                Value::Null => Ok(String::new()),
                Value::String(text) => Ok(text.clone()),
                _ => Err(bad(format!("entry {i}: {key}: not a string"))),
            };
            match key.to_ascii_lowercase().as_str() {
                "ifacename" => name = text()?,
                "kind" => qdisc.kind = text()?,
                "parent" => qdisc.parent = narrow()?,
                "handle" => qdisc.handle = narrow()?,
                "bytes" => qdisc.bytes = wide(u64::MAX)?,
                "packets" => qdisc.packets = narrow()?,
                "drops" => qdisc.drops = narrow()?,
                "requeues" => qdisc.requeues = narrow()?,
                "overlimits" => qdisc.overlimits = narrow()?,
                "qlen" => qdisc.qlen = narrow()?,
                "backlog" => qdisc.backlog = narrow()?,
                _ => {}
            }
        }
        entries.push((name, qdisc));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixtures, rendered, Line};

    fn build(flags: &[&str]) -> Result<QdiscStats, ConfigError> {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from(std::iter::once("t").chain(flags.iter().copied()))
            .unwrap();
        QdiscStats::new(&BuildContext {
            paths: &crate::test_support::fixture_paths(),
            matches: &matches,
        })
    }

    fn scrape(flags: &[&str]) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        build(flags)
            .unwrap()
            .update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    fn fixture_flag() -> String {
        format!("--{FIXTURES}={}", fixtures().join("qdisc").display())
    }

    fn sample(name: &str, device: &str, kind: &str, value: f64) -> Line {
        Line::Sample(
            name.into(),
            vec![
                ("device".into(), device.into()),
                ("kind".into(), kind.into()),
            ],
            value,
        )
    }

    #[test]
    fn reports_the_root_qdiscs_of_the_fixtures() {
        let set = scrape(&[&fixture_flag()]).unwrap();
        let lines = rendered(&set, |_| true);
        let help = |name: &str, text: &str| Line::Help(name.into(), text.into());
        let kind = |name: &str, text: &str| Line::Type(name.into(), text.into());
        let expected = vec![
            help(
                "node_qdisc_backlog",
                "Number of bytes currently in queue to be sent.",
            ),
            kind("node_qdisc_backlog", "gauge"),
            sample("node_qdisc_backlog", "eth0", "fq_codel", 3028.0),
            sample("node_qdisc_backlog", "wlan0", "mq", 0.0),
            help("node_qdisc_bytes_total", "Number of bytes sent."),
            kind("node_qdisc_bytes_total", "counter"),
            sample(
                "node_qdisc_bytes_total",
                "eth0",
                "fq_codel",
                87_301_244_913.0,
            ),
            sample("node_qdisc_bytes_total", "wlan0", "mq", 1_204_556.0),
            help(
                "node_qdisc_current_queue_length",
                "Number of packets currently in queue to be sent.",
            ),
            kind("node_qdisc_current_queue_length", "gauge"),
            sample("node_qdisc_current_queue_length", "eth0", "fq_codel", 2.0),
            sample("node_qdisc_current_queue_length", "wlan0", "mq", 0.0),
            help("node_qdisc_drops_total", "Number of packets dropped."),
            kind("node_qdisc_drops_total", "counter"),
            sample("node_qdisc_drops_total", "eth0", "fq_codel", 17.0),
            sample("node_qdisc_drops_total", "wlan0", "mq", 4.0),
            help(
                "node_qdisc_overlimits_total",
                "Number of overlimit packets.",
            ),
            kind("node_qdisc_overlimits_total", "counter"),
            sample("node_qdisc_overlimits_total", "eth0", "fq_codel", 29.0),
            sample("node_qdisc_overlimits_total", "wlan0", "mq", 0.0),
            help("node_qdisc_packets_total", "Number of packets sent."),
            kind("node_qdisc_packets_total", "counter"),
            sample("node_qdisc_packets_total", "eth0", "fq_codel", 61_442_318.0),
            sample("node_qdisc_packets_total", "wlan0", "mq", 9_871.0),
            help(
                "node_qdisc_requeues_total",
                "Number of packets dequeued, not transmitted, and requeued.",
            ),
            kind("node_qdisc_requeues_total", "counter"),
            sample("node_qdisc_requeues_total", "eth0", "fq_codel", 5.0),
            sample("node_qdisc_requeues_total", "wlan0", "mq", 1.0),
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn filters_devices_by_name() {
        let set = scrape(&[&fixture_flag(), &format!("--{INCLUDE}=^wlan")]).unwrap();
        let devices: Vec<_> = set.get("node_qdisc_bytes_total").unwrap().samples();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].labels[0].1, "wlan0");
        // The old spelling stands in for the new one.
        let set = scrape(&[&fixture_flag(), &format!("--{OLD_EXCLUDE}=^wlan")]).unwrap();
        let samples = set.get("node_qdisc_bytes_total").unwrap().samples();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].labels[0].1, "eth0");
        assert!(build(&[&format!("--{INCLUDE}=a"), &format!("--{EXCLUDE}=b")]).is_err());
        assert!(build(&[&format!("--{INCLUDE}=a"), &format!("--{OLD_INCLUDE}=b")]).is_err());
        assert!(build(&[&format!("--{EXCLUDE}=(")]).is_err());
    }

    #[test]
    fn fixture_errors_name_the_file_and_entry() {
        let path = Path::new("/q/results.json");
        let error = parse_fixtures("[{\"Packets\": -1}]", path).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/q/results.json:0: entry 0: Packets: not a number that fits"
        );
        let error = parse_fixtures("{}", path).unwrap_err().to_string();
        assert!(error.contains("not a JSON array"), "{error}");
        let entries = parse_fixtures("[{\"ifacename\": \"x\", \"Bytes\": null}]", path).unwrap();
        assert_eq!(entries[0].0, "x");
        assert!(parse_fixtures("null", path).unwrap().is_empty());
        let entries = parse_fixtures("[null]", path).unwrap();
        assert_eq!(entries, vec![(String::new(), Qdisc::default())]);
        let error = parse_fixtures("[1]", path).unwrap_err().to_string();
        assert!(error.ends_with("entry 0: not an object"), "{error}");
        let error = parse_fixtures("[\n{\"Kind\": ", path)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/q/results.json:2: not JSON"), "{error}");
        let missing = scrape(&["--collector.qdisc.fixtures=/nonexistent"]);
        assert!(matches!(missing, Err(CollectError::Read { .. })));
    }

    #[test]
    fn reports_this_hosts_loopback() {
        let set = scrape(&[]).unwrap();
        let lo = set
            .get("node_qdisc_packets_total")
            .unwrap()
            .samples()
            .into_iter()
            .find(|s| s.labels[0].1 == "lo")
            .unwrap();
        assert_eq!(lo.labels[1], ("kind".to_string(), "noqueue".to_string()));
    }
}
