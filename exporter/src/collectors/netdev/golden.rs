//! Test support: node_exporter 1.5's reference scrape of the fixture tree
//! (`tests/fixtures/node_exporter_1.5_output.txt`), compared family by family.
//!
//! Lines are compared whole (HELP, TYPE, label order, sample order), except that each
//! sample's value is compared as a number: Go writes 987654321 as `9.87654321e+08`.

use std::path::PathBuf;

use crate::exposition::{render, Format};
use crate::metrics::MetricSet;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The reference lines of the families `keep` selects.
pub fn reference(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("node_exporter_1.5_output.txt")).unwrap();
    normalized(&text, keep)
}

/// Our lines of the families `keep` selects, rendered as text 0.0.4.
pub fn rendered(set: &MetricSet, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut text = String::new();
    render(set, Format::PrometheusText, &mut text);
    normalized(&text, keep)
}

fn normalized(text: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let comment = line
            .strip_prefix("# HELP ")
            .or(line.strip_prefix("# TYPE "));
        let name = match comment {
            Some(rest) => rest.split(' ').next().unwrap(),
            None => line.split(['{', ' ']).next().unwrap(),
        };
        if !keep(name) {
            continue;
        }
        if comment.is_some() {
            lines.push(line.to_string());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            lines.push(format!("{series} {value:?}"));
        }
    }
    lines
}
