//! Test support for the collectors' unit tests: the fixture tree and node_exporter
//! 1.5's reference scrape of it (`tests/fixtures/node_exporter_1.5_output.txt`).
//!
//! Outputs are compared line by line after parsing, so HELP, TYPE, label order and
//! sample order must match while numbers compare as numbers (Go writes 987654321 as
//! `9.87654321e+08`).

use std::path::PathBuf;

use crate::paths::Paths;
use edge_common::exposition::write::{render, Format};
use edge_common::exposition::{parse_rendered_labels, MetricSet};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture_paths() -> Paths {
    Paths::under(&fixtures())
}

/// One line of the text format.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Help(String, String),
    Type(String, String),
    Sample(String, Vec<(String, String)>, f64),
}

impl Line {
    pub fn family(&self) -> &str {
        match self {
            Line::Help(name, _) | Line::Type(name, _) | Line::Sample(name, _, _) => name,
        }
    }
}

/// Parses Prometheus text 0.0.4 (panics on what it cannot read: test input only).
pub fn parse_text(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                Line::Help(name.into(), help.into())
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                Line::Type(name.into(), kind.into())
            } else {
                let (series, value) = line.rsplit_once(' ').expect("sample value");
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.strip_suffix('}').expect("}")),
                    None => (series, ""),
                };
                let value = value.parse().expect("numeric sample value");
                Line::Sample(name.into(), parse_rendered_labels(labels), value)
            }
        })
        .collect()
}

/// node_exporter's lines of the families `keep` selects.
pub fn reference(keep: impl Fn(&str) -> bool) -> Vec<Line> {
    let text = std::fs::read_to_string(fixtures().join("node_exporter_1.5_output.txt"))
        .expect("reference output");
    parse_text(&text)
        .into_iter()
        .filter(|line| keep(line.family()))
        .collect()
}

/// Our lines of the families `keep` selects, rendered as text 0.0.4.
pub fn rendered(set: &MetricSet, keep: impl Fn(&str) -> bool) -> Vec<Line> {
    let mut text = String::new();
    render(set, Format::PrometheusText, &mut text);
    parse_text(&text)
        .into_iter()
        .filter(|line| keep(line.family()))
        .collect()
}

/// One scrape of `collector` into a set of its own, as the scraper runs it.
pub fn run(
    collector: &mut dyn crate::collector::Collector,
) -> Result<MetricSet, crate::error::CollectError> {
    let mut out = MetricSet::new();
    collector.update(&mut crate::sources::Sources::default(), &mut out)?;
    Ok(out)
}

/// Paths whose sysfs is `root` (a tree a test builds), the rest the defaults.
pub fn sysfs_under(root: &std::path::Path) -> Paths {
    Paths {
        sysfs: root.to_path_buf(),
        ..Paths::default()
    }
}
