//! edge-common's strict Prometheus text 0.0.4 parser (`textparse::parse`), which
//! reads every `.prom` file of the textfile collector and every scrape of the master.
//!
//! Never panics, and what it accepts round-trips: the families, re-rendered by
//! edge-common's writer (as the exporter re-renders a textfile), are accepted again,
//! with the same names and types, and rendering that a second time gives the same
//! text (a fixed point: nothing is lost or changed by a second pass).
#![no_main]

use edge_common::exposition::names::{is_label_name, is_metric_name, is_reserved_label_name};
use edge_common::exposition::{MetricKind, MetricSet, SamplePart};
use edge_common::text::write_value;
use edge_common::textparse::{self, MetricFamily, MetricType, Value};
use edge_metrics_fuzz::render_and_reparse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(families) = textparse::parse(data) else {
        return;
    };
    for family in &families {
        assert!(is_metric_name(&family.name), "{:?}", family.name);
        assert!(!family.metrics.is_empty(), "empty family {:?}", family.name);
        for metric in &family.metrics {
            for (name, _) in &metric.labels {
                assert!(is_label_name(name), "label {name:?} of {:?}", family.name);
            }
        }
    }
    let set = to_metric_set(&families);
    let (first, reparsed) = render_and_reparse(&set);
    assert_eq!(
        kinds(&reparsed),
        set_kinds(&set),
        "families changed\n--- text ---\n{first}"
    );
    let (second, _) = render_and_reparse(&to_metric_set(&reparsed));
    assert_eq!(first, second, "a second round trip changed the text");
});

/// The families as the exporter's textfile collector joins them: each family alone,
/// then the registry rule (`append_deduplicated`). A family with a label name the
/// writer refuses (reserved `__…`) is left out, as the collector skips such a file.
fn to_metric_set(families: &[MetricFamily]) -> MetricSet {
    let mut set = MetricSet::new();
    for family in families {
        if let Some(one) = family_set(family) {
            set.append_deduplicated(one);
        }
    }
    set
}

fn family_set(family: &MetricFamily) -> Option<MetricSet> {
    let kind = match family.kind {
        MetricType::Counter => MetricKind::Counter,
        MetricType::Gauge => MetricKind::Gauge,
        MetricType::Untyped => MetricKind::Untyped,
        MetricType::Summary => MetricKind::Summary,
        MetricType::Histogram => MetricKind::Histogram,
    };
    let help = family.help.clone().unwrap_or_default();
    let mut set = MetricSet::new();
    let out = set
        .checked_family(family.name.clone(), help, kind)
        .expect("the parser accepted the name");
    for metric in &family.metrics {
        if metric
            .labels
            .iter()
            .any(|(name, _)| !is_label_name(name) || is_reserved_label_name(name))
        {
            return None;
        }
        let labels: Vec<(&str, &str)> = metric
            .labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let with_bound = |label: &'static str, bound: f64| {
            let mut text = String::new();
            write_value(bound, &mut text);
            (label, text)
        };
        match &metric.value {
            Value::Single(value) => out.push(&labels, *value),
            Value::Summary {
                count,
                sum,
                quantiles,
            } => {
                for &(quantile, value) in quantiles {
                    let (label, bound) = with_bound("quantile", quantile);
                    let mut pairs = labels.clone();
                    pairs.push((label, &bound));
                    out.push_part(SamplePart::Value, &pairs, value);
                }
                push_sum_count(out, &labels, *sum, *count);
            }
            Value::Histogram {
                count,
                sum,
                buckets,
            } => {
                for &(le, value) in buckets {
                    let (label, bound) = with_bound("le", le);
                    let mut pairs = labels.clone();
                    pairs.push((label, &bound));
                    out.push_part(SamplePart::Bucket, &pairs, value);
                }
                push_sum_count(out, &labels, *sum, *count);
            }
        }
    }
    // A summary or histogram series with no sample left (only NaN bounds) has
    // nothing to write: the model cannot hold an empty series.
    (!out.is_empty()).then_some(set)
}

fn push_sum_count(
    out: &mut edge_common::exposition::Family,
    labels: &[(&str, &str)],
    sum: Option<f64>,
    count: Option<f64>,
) {
    if let Some(sum) = sum {
        out.push_part(SamplePart::Sum, labels, sum);
    }
    if let Some(count) = count {
        out.push_part(SamplePart::Count, labels, count);
    }
}

fn kinds(families: &[MetricFamily]) -> Vec<(String, &'static str)> {
    let mut kinds: Vec<(String, &'static str)> = families
        .iter()
        .map(|f| (f.name.clone(), f.kind.as_str()))
        .collect();
    kinds.sort();
    kinds
}

fn set_kinds(set: &MetricSet) -> Vec<(String, &'static str)> {
    let mut kinds: Vec<(String, &'static str)> = set
        .families()
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| (f.name.to_string(), f.kind.as_str()))
        .collect();
    kinds.sort();
    kinds
}
